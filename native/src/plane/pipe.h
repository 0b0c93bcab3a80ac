// One publisher on the media engine, whatever its source: its frames turned into RTP once (H.264 repackaged, AAC
// transcoded to Opus, Opus as it is), the current GOP for late viewers, and fan-out to its consumers' sinks. WHIP
// and pull publishers push frames from JavaScript (PushVideo/PushAac/PushOpus); an RTMP publisher's socket is read
// here once JavaScript has handed it over after auth and Publish.Start. Messages the plane does not handle itself go
// to JavaScript as events; a media message among them pauses the pipe until JavaScript has dealt with it, so the
// order of frames is kept.

#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <deque>

#include "h264_rtp.h"
#include "rtmp_chunks.h"
#include "rtp_in.h"
#include "sink.h"
#include "tap.h"
#include "units.h"

namespace roomgate {
class AacOpus;
}

namespace roomgate::plane {

struct Event {
  enum Kind : int {
    kMedia = 1,          // an audio/video message for JavaScript to parse (the pipe is paused until Resume)
    kMessage = 2,        // a command (AMF0/AMF3 invoke) message
    kEnded = 3,          // the socket was closed by the peer or failed (text: why)
    kProtocolError = 4,  // the chunk stream broke a rule (text: the sentence)
    kFirstVideo = 5,
    kFirstAudio = 6,
    kDecoderErrors = 7,  // AAC frames the decoder refused since the last such event (number), text: the last error
    kTapFile = 8,        // a file-mode tap closed a file (tap, file; text: the cause)
    kTapFailed = 9,      // a file-mode tap could not open or write a file (tap, file.path; text: the sentence)
    // A WHIP publisher's RTP input (rtp_in.h):
    kRtpVideo = 10,        // an access unit for JavaScript (new SPS/PPS, a B or unreadable slice): body = NAL units
                           // each after a 4-byte length, number = ms, type = 1 for a keyframe; later frames wait
                           // until Resume
    kDatagram = 11,        // a datagram for werift (STUN, DTLS, SRTCP): body, text = source address, number = port
    kNack = 12,            // number = media SSRC, body = the sequence numbers to ask for, 2 bytes each
    kKeyframeWanted = 13,  // frames are being dropped until the next keyframe
  };
  Kind kind;
  uint32_t pipe;  // 0 for the tap events (a tap may have outlived its pipe)
  uint8_t type = 0;
  uint32_t timestamp = 0;
  std::vector<uint8_t> body;
  std::string text;
  double number = 0;
  uint32_t tap = 0;
  TapFileInfo file;
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void Post(Event&& e) = 0;
};

struct AudioOptions {
  int bitrate = 64000;
  int complexity = 5;
};

struct PipeCounters {
  uint32_t videoFrames = 0, audioFrames = 0, keyframes = 0;
  // Encoded payload taken in (NAL units without length prefixes; AAC or Opus frames): the history samples bitrates
  uint64_t videoBytes = 0, audioBytes = 0;
  double lastKeyDts = -1, maxGopMs = 0;
  double lastInputAt = 0;  // NowMs() of the last bytes read from the input fd (a pull task's stall watch)
  double lastSourceTs = -1, lastOutTs = -1;  // the last FLV input tag's own timestamp, and as it went on (rebased)
};

class Pipe : public RtpOutput {
 public:
  /**
   * A pipe starts without a socket, paused: JavaScript still parses the chunk stream (and pushes what it parsed)
   * until it stops at a message boundary and hands the socket over with AttachSocket.
   */
  Pipe(uint32_t id, const AudioOptions& audio, EventSink* events);
  ~Pipe();

  /** Takes over reading `fd`, continuing the chunk stream from the state JavaScript's parser left. */
  void AttachSocket(int fd, const ChunkLimits& limits, uint32_t chunkSize, const std::vector<ChunkStreamState>& streams);

  enum Status { kReading, kPaused, kEnded };
  /** Reads what the socket has and handles it. */
  Status OnReadable(double now);
  /** JavaScript handled the media message that paused the pipe: go on with the bytes read after it. */
  Status Resume(double now);
  Status status() const { return status_; }
  /**
   * Takes over reading an FLV byte stream (a pull task's ffmpeg output) at a tag boundary: `leftover` is what
   * JavaScript read of the next tag(s). Timestamps go on as `base + max(0, ts - firstTs)`, one clock across the
   * task's runs. Returns the status after the leftover was handled.
   */
  Status AttachFlv(int fd, uint32_t maxTagSize, double base, double firstTs, const uint8_t* leftover, size_t n, double now);
  /**
   * Takes over a WHIP publisher's RTP (rtp_in.h): the datagrams of `fd` (werift's UDP socket; -1 for none) are read
   * here from now on, and PushSrtp takes those werift read itself. Throws std::invalid_argument for keys the SRTP
   * code refuses.
   */
  void AttachRtp(int fd, const RtpInConfig& config);
  /** An SRTP packet werift read (decrypted in place). */
  void PushSrtp(uint8_t* data, int len, double now);
  /** JavaScript handled the kRtpVideo event: the frames held since go on. */
  void ResumeRtp(double now);
  const RtpIn* rtpIn() const { return rtpIn_.get(); }
  RtpIn* rtpIn() { return rtpIn_.get(); }
  /** Stops reading the input (the caller has taken it out of epoll); the pipe and its consumers stay. */
  void DetachInput();
  /** Stops for good (JavaScript closes the socket next); the fd is not touched after this. */
  void Close() { status_ = kEnded; fd_ = -1; }

  void SetVideoConfig(int naluLengthSize, ParamSets sets);
  /** Creates the AAC → Opus transcoder for this AudioSpecificConfig; returns why it could not, or "". */
  std::string SetAudioConfig(const std::vector<uint8_t>& asc, double volume);
  void ClearAudioConfig();
  void SetVolume(double percent);
  /**
   * SetUserBlocked: a blocked kind is still taken in and counted (the publisher is not idle) but reaches no sink and no
   * tap. Video unblocked resumes at the next keyframe, so no decoder or recording gets frames whose references it
   * never had; the GOP cached before a video block is dropped, so no one joining later sees it.
   */
  void SetBlocked(bool audio, bool video);

  /** Frames JavaScript parsed from a media message (in-band parameter sets, and the like). */
  void PushVideo(const uint8_t* const* nals, const uint32_t* lens, int count, double ptsMs, bool keyframe, double now);
  void PushAac(const uint8_t* data, uint32_t len, double dtsMs, double now);
  void PushOpus(const uint8_t* data, uint32_t len, uint32_t timestamp, double now);

  void AddSink(Sink* sink, bool video);
  void RemoveSink(Sink* sink);
  /**
   * Taps get the source frames (tap.h) from every path they enter by: socket, PushVideo, PushAac, PushOpus — and the
   * AAC config whenever it is set (a file-mode tap starts a new file for a new one).
   */
  void AddTap(Tap* tap) { taps_.push_back(tap); }
  void RemoveTap(Tap* tap);
  /** The current configs a new tap's muxer header is made from. */
  const ParamSets& sets() const { return sets_; }
  const std::vector<uint8_t>& asc() const { return asc_; }
  const std::vector<UnitPtr>& gop() const { return gop_; }
  const PipeCounters& counters() const { return counters_; }
  uint32_t id() const { return id_; }
  int fd() const { return fd_; }

 private:
  static bool OnMessage(void* ctx, const RtmpMessage& m);
  bool Handle(const RtmpMessage& m);
  /** Runs the chunk reader over `data`, keeping what follows a pausing message. */
  Status Consume(const uint8_t* data, size_t len);
  void VideoUnit(const uint8_t* const* nals, const uint32_t* lens, int count, double dtsMs, bool keyframe);
  /** One AAC frame: to the taps as it is, and to the transcoder for the sinks. */
  void AacFrame(const uint8_t* data, uint32_t len, double dtsMs);
  /** One audio frame taken in (counted for the status API; the first one is reported). */
  void CountAudio(uint32_t len);
  /** One video frame taken in (counted with its bytes; the first one is reported). */
  void CountVideo(bool keyframe, double dtsMs, const uint8_t* const* nals, const uint32_t* lens, int count);
  void Transcode(const uint8_t* data, uint32_t len, double dtsMs);
  void EmitOpus(const uint8_t* data, uint32_t len, uint32_t timestamp);
  void Post(Event::Kind kind, std::string text = "", double number = 0);
  // RtpOutput, and the frames held while JavaScript handles a kRtpVideo event
  void OnRtpVideo(const uint8_t* const* nals, const uint32_t* lens, int count, double ms, bool keyframe) override;
  void OnRtpOpus(const uint8_t* data, uint32_t len, uint32_t timestamp) override;
  void OnRtpDatagram(const uint8_t* data, size_t len, const sockaddr_storage& from) override;
  void OnRtpNack(uint32_t ssrc, const std::vector<uint16_t>& seqs) override;
  void OnRtpKeyframeWanted() override;
  void RtpVideo(const uint8_t* const* nals, const uint32_t* lens, int count, double ms, bool keyframe);
  void RtpOpus(const uint8_t* data, uint32_t len, uint32_t timestamp);
  Status ReadDatagrams(double now);

  const uint32_t id_;
  int fd_ = -1;
  std::unique_ptr<MessageReader> reader_;
  std::unique_ptr<RtpIn> rtpIn_;
  struct HeldFrame {
    bool video, keyframe;
    double ms;
    uint32_t timestamp;
    std::vector<uint8_t> bytes;
    std::vector<uint32_t> lens;
  };
  std::deque<HeldFrame> heldFrames_;
  bool rtpWait_ = false;            // a kRtpVideo event is with JavaScript: frames wait in heldFrames_
  double lastKeyframeWanted_ = -1e12;
  double datagramWindow_ = -1e12;   // the second datagrams for werift are being counted in
  int datagramsInWindow_ = 0;
  struct Rebase {
    bool on = false;
    double base = 0, firstTs = 0;
  } rebase_;
  const char* eofText_ = "publisher disconnected";
  AudioOptions audioOptions_;
  EventSink* events_;
  Status status_ = kPaused;
  std::vector<uint8_t> pending_;  // bytes read after a pausing message
  double now_ = 0;                // the time the bytes being handled were read

  int naluLengthSize_ = 0;        // 0: no video config yet
  ParamSets sets_;
  bool audioConfigured_ = false;
  std::vector<uint8_t> asc_;      // the AudioSpecificConfig (a tap's muxer needs it), empty without AAC
  std::unique_ptr<AacOpus> transcoder_;
  uint32_t reportedErrors_ = 0;
  double lastErrorReport_ = -1e12;

  uint16_t videoSeq_, audioSeq_;
  std::vector<UnitPtr> gop_;
  uint32_t gopPackets_ = 0;
  std::vector<Sink*> videoSinks_, audioSinks_;
  std::vector<Tap*> taps_;
  PipeCounters counters_;
  bool sawVideo_ = false, sawAudio_ = false;
  bool blockAudio_ = false, blockVideo_ = false;
  bool videoNeedsKey_ = false;  // video was unblocked: nothing goes out before a keyframe
};

}  // namespace roomgate::plane
