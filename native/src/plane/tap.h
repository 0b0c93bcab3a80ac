// A tap: the second kind of consumer on a pipe, beside sinks. Where a sink gets the publisher's RTP, a tap gets the
// publisher's source frames (H.264 access units, AAC or Opus, with their timestamps), muxes them with libavformat
// (MPEG-TS by default, or Matroska) and writes the bytes to a file descriptor the caller owns: a file, a pipe to an
// ffmpeg child, a socket. The tap writes through its own dup of it, closed when the tap goes; the caller's stays
// open. Recorders and relays are built on it (issue 16).
//
// It runs in whichever thread handles the frame — the plane's for a handed-over RTMP socket, the JavaScript thread
// for pushed frames — always under the plane's mutex, so it must never block: the fd is made non-blocking, the muxer
// writes into memory, and what the fd does not take waits in a bounded queue, retried on the next frame. Past the
// bound, frames are dropped until the next video keyframe (audio frames, for an audio-only tap) and counted. The plane
// also retries when the fd becomes writable (plane.cc ArmTaps), so the tail of a stream does not wait for a frame.

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "h264_rtp.h"

struct AVFormatContext;
struct AVIOContext;
struct AVPacket;

namespace roomgate::plane {

struct TapOptions {
  int fd = -1;
  bool video = false;
  enum Audio { kNoAudio, kAac, kOpus } audio = kNoAudio;
  std::string format = "mpegts";  // or "matroska"
  int width = 0, height = 0;      // optional (Matroska's track header); 0 when unknown
};

struct TapStats {
  uint64_t videoFrames = 0, audioFrames = 0;  // given to the muxer
  uint64_t bytesWritten = 0;                   // taken by the fd
  uint64_t droppedFrames = 0;                  // dropped because the queue was full
  uint64_t pendingBytes = 0;                   // muxed, waiting for the fd
  std::string lastError;                       // the write error that stopped the tap ("" while it runs)
};

class Tap {
 public:
  /**
   * Opens the muxer with the pipe's current configs (`sets` for H.264 extradata, `asc` the AAC AudioSpecificConfig)
   * and writes its header. Throws std::runtime_error with a sentence (bad format, missing config, muxer failure).
   */
  Tap(const TapOptions& options, const ParamSets& sets, const std::vector<uint8_t>& asc);
  ~Tap();
  Tap(const Tap&) = delete;
  Tap& operator=(const Tap&) = delete;

  bool wantsVideo() const { return options_.video; }
  TapOptions::Audio audio() const { return options_.audio; }

  /** One access unit (NAL units without start codes); `sets` go in band ahead of a keyframe. */
  void OnVideo(const uint8_t* const* nals, const uint32_t* lens, int count, double ms, bool keyframe, const ParamSets& sets);
  /** One raw AAC frame (no ADTS header), timestamp in ms. */
  void OnAac(const uint8_t* data, uint32_t len, double ms);
  /** One Opus packet, timestamp on the 48 kHz clock (wraps at 2^32). */
  void OnOpus(const uint8_t* data, uint32_t len, uint32_t ts48k);

  /** Writes the trailer and tries a last non-blocking flush; returns the bytes left unwritten. The fd stays open. */
  uint64_t Finish();
  const TapStats& stats();
  /** Bytes wait for the fd (and it has not failed): the plane then waits for the fd to be writable and calls Retry. */
  bool waiting() const { return !failed_ && Pending() > 0; }
  void Retry() { Flush(); }
  /** The tap's own duplicate of the caller's fd (the caller's is never closed here). */
  int fd() const { return fd_; }

 private:
  static int OnMuxed(void* opaque, const uint8_t* buf, int size);
  /** Whether there is room for another frame; otherwise counts the drop (and, with video, waits for a keyframe). */
  bool Admit(bool keyframe);
  void Write(int stream, int64_t ts, int64_t* last, const uint8_t* data, size_t size, bool keyframe);
  /** Writes what the fd takes now; returns how much. A real error stops the tap (Fail). */
  size_t WriteSome(const uint8_t* buf, size_t size);
  void Flush();
  void Free();
  void Fail(const std::string& why);
  size_t Pending() const { return queue_.size() - head_; }

  TapOptions options_;
  int fd_ = -1;            // dup of options_.fd
  bool socket_ = false;
  AVFormatContext* ctx_ = nullptr;
  AVIOContext* io_ = nullptr;
  AVPacket* packet_ = nullptr;
  int videoStream_ = -1, audioStream_ = -1;
  bool waitKey_;           // video: nothing until the next keyframe (start, or after drops)
  bool started_ = false;   // the first keyframe (audio: frame) went in; later refusals count as drops
  bool failed_ = false;    // a write error: nothing more is written
  uint64_t lost_ = 0;      // bytes queued when the tap failed
  bool finished_ = false;
  int64_t lastVideo_ = INT64_MIN, lastAudio_ = INT64_MIN;  // in each stream's time base: dts must rise
  bool haveOpusTs_ = false;
  uint32_t lastOpusRaw_ = 0;
  int64_t opusTs_ = 0;     // the Opus clock, unwrapped
  std::vector<uint8_t> annexB_;        // the access unit being muxed
  std::vector<uint8_t> queue_;         // muxed bytes from head_ on wait for the fd
  size_t head_ = 0;
  TapStats stats_;
};

}  // namespace roomgate::plane
