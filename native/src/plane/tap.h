// A tap: the second kind of consumer on a pipe, beside sinks. Where a sink gets the publisher's RTP, a tap gets the
// publisher's source frames (H.264 access units, AAC or Opus, with their timestamps) and muxes them with libavformat
// (tap_muxer.h: MPEG-TS by default, Matroska, fragmented MP4, or ADTS for AAC alone). Two modes:
//
// - fd mode: the bytes go to a file descriptor the caller owns — a pipe to an ffmpeg child, a socket. The tap writes
//   through its own dup of it, closed when the tap goes; the caller's stays open. Relays are built on it (issue 16).
// - file mode: the tap writes recording files itself (tap_files.h), cut the way TRTC cuts them (issue 17): a new file
//   at the first cut point (video keyframe; any frame of an audio-only tap) past `segmentMs` of media time or near
//   `maxBytes`, or when the codec config changes under a container that carries it in its header. Each file is whole
//   on its own (header, first frame a keyframe). The tap outlives its pipe: detached (the publisher left) it keeps its
//   file open, and attached to another pipe (the publisher came back) it goes on with the same timeline.
//
// It runs in whichever thread handles the frame — the plane's for a handed-over RTMP socket, the JavaScript thread
// for pushed frames — always under the plane's mutex, so it must never block. In fd mode the fd is made non-blocking,
// the muxer writes into memory, and what the fd does not take waits in a bounded queue, retried on the next frame.
// Past the bound, frames are dropped until the next video keyframe (audio frames, for an audio-only tap) and counted.
// The plane also retries when the fd becomes writable (plane.cc ArmTaps), so the tail of a stream does not wait for a
// frame. In file mode the writes go straight to the file (a regular file does not wait for a reader); an error
// (ENOSPC, EIO) stops the tap and is reported (TapListener).

#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "h264_rtp.h"
#include "../opus_aac_core.h"
#include "tap_files.h"
#include "rtmp_out.h"
#include "tap_muxer.h"

namespace roomgate::plane {

struct TapOptions : TapStreams {
  // audio kAac made from the pipe's Opus (WHIP publishers) by ../opus_aac_core.h, for containers and players that
  // want AAC (HLS segments, ADTS); the muxer sees AAC with the transcoder's AudioSpecificConfig
  bool opusToAac = false;
  int fd = -1;          // fd mode
  // format 'rtmp' (fd mode): FLV tags as RTMP messages (rtmp_out.h), no muxer. The fd is a socket on which
  // JavaScript has published, with the message stream createStream gave and the chunk size the client announced — or
  // -1 while the session is being set up: the tap then keeps the messages since the last keyframe until Connect, so
  // the CDN's stream starts at the keyframe that was current when the push began, not a GOP later.
  uint32_t rtmpStreamId = 1, rtmpChunkSize = 128;
  bool toFiles = false;  // file mode: `file` says where (fd is not used)
  TapFileOptions file;
};

struct TapStats {
  uint64_t videoFrames = 0, audioFrames = 0;  // given to the muxer
  uint64_t bytesWritten = 0;                   // taken by the fd (fd mode); written to files (file mode)
  uint64_t droppedFrames = 0;                  // dropped because the queue was full, or audio of a stale config
  uint64_t pendingBytes = 0;                   // muxed, waiting for the fd
  std::string lastError;                       // the write error that stopped the tap ("" while it runs)
  std::string path;                            // file mode: the file being written ("" when none)
  uint64_t files = 0;                          // file mode: files closed so far
};

/** What a finished tap leaves: bytes the fd did not take (fd mode), the last file's facts (file mode). */
struct TapEnd {
  uint64_t leftBytes = 0;
  bool hasFile = false;
  TapFileInfo file;
};

/** Where a file-mode tap reports its files (the plane turns these into events for JavaScript). */
class TapListener {
 public:
  virtual ~TapListener() = default;
  virtual void OnTapFile(uint32_t tap, const TapFileInfo& file, TapCut cause) = 0;
  /** Opening or writing `path` failed; `message` names it and the system's reason. The tap writes nothing more. */
  virtual void OnTapFailed(uint32_t tap, const std::string& path, const std::string& message) = 0;
};

class Tap {
 public:
  /**
   * Checks the options against the pipe's current configs (`sets` the H.264 parameter sets, `asc` the AAC
   * AudioSpecificConfig). fd mode: opens the muxer and writes its header now. File mode: the first file is opened at
   * the first frame that can start one. Throws std::runtime_error with a sentence (bad format or file options,
   * missing config, muxer failure).
   */
  Tap(const TapOptions& options, const ParamSets& sets, const std::vector<uint8_t>& asc);
  /** A file still open gets its trailer (the plane closing): every file left behind is whole. No events. */
  ~Tap();
  Tap(const Tap&) = delete;
  Tap& operator=(const Tap&) = delete;

  /** Where file events go and the id they carry (Plane::AddTap). */
  void SetListener(TapListener* listener, uint32_t id) {
    listener_ = listener;
    id_ = id;
  }
  bool fileMode() const { return options_.toFiles; }
  const TapOptions& options() const { return options_; }
  /** A file-mode or 'rtmp' tap: it outlives its pipe and moves to another (Detach, then the plane attaches it). */
  bool movable() const { return files_ != nullptr || rtmp_ != nullptr; }
  bool wantsVideo() const { return options_.video; }
  TapOptions::Audio audio() const { return options_.audio; }

  /** One access unit (NAL units without start codes); `sets` (the pipe's) go in band ahead of a keyframe. */
  void OnVideo(const uint8_t* const* nals, const uint32_t* lens, int count, double ms, bool keyframe, const ParamSets& sets);
  /** One raw AAC frame (no ADTS header), timestamp in ms. */
  void OnAac(const uint8_t* data, uint32_t len, double ms);
  /** One Opus packet, timestamp on the 48 kHz clock (wraps at 2^32). */
  void OnOpus(const uint8_t* data, uint32_t len, uint32_t ts48k);
  /** The pipe's AAC config (it changed, or the tap joined a pipe). File mode: a different one starts a new file. */
  void OnAudioConfig(const std::vector<uint8_t>& asc);

  /**
   * 'rtmp' format: bytes JavaScript's RTMP client writes after the hand-over (a pong, an acknowledgement), whole
   * messages, queued behind the media already queued so no message is split. False once the tap failed.
   */
  bool Send(const uint8_t* data, size_t size);
  /**
   * 'rtmp' made without an fd: the session is published on `fd`; the messages kept go out first. Throws
   * std::runtime_error with a sentence (a bad fd, or the tap has one already).
   */
  void Connect(int fd, uint32_t streamId, uint32_t chunkSize);

  /**
   * Off its pipe (file mode, 'rtmp'): the file (the RTMP session) stays open; the next frames — from whichever pipe the tap joins — continue
   * the timeline one frame after the last (each stream rebased on its own), video from a keyframe.
   */
  void Detach();

  /** Writes the trailer and tries a last non-blocking flush (fd mode; the fd stays open), or closes the file. Once. */
  TapEnd Finish();
  const TapStats& stats();
  /** Bytes wait for the fd (and it has not failed): the plane then waits for the fd to be writable and calls Retry. */
  bool waiting() const { return !failed_ && Pending() > 0; }
  void Retry() { Flush(); }
  /** The tap's own duplicate of the caller's fd (-1 in file mode; the caller's is never closed here). */
  int fd() const { return fd_; }

 private:
  /** One stream's timeline: source timestamps plus an offset, rising; rebased after a re-attach. */
  struct Clock {
    int64_t perMs = 1;        // units per millisecond (48 for Opus's clock)
    int64_t step = 0;         // one frame: the last distance between two frames, or the default given
    int64_t offset = 0;
    int64_t lastIn = INT64_MIN, lastOut = INT64_MIN;
    bool rebase = false;
    int64_t Map(int64_t in);
  };

  static int OnMuxed(void* opaque, const uint8_t* buf, int size);
  /** 'rtmp': rtmpNew_'s messages to the fd (or its queue), or kept until Connect. */
  void Emit();
  /** 'rtmp' before Connect: rtmpNew_ onto kept_, which starts at the last keyframe. */
  void Keep();
  /** Opens `fd` for writing: checked, non-blocking, our own dup of it. Throws a sentence. */
  void OpenFd(int fd);
  /** Whether there is room for another frame; otherwise counts the drop (and, with video, waits for a keyframe). */
  bool Admit(bool keyframe);
  /**
   * A raw AAC frame with its timestamp (ms) into the tap: what OnAac calls. A tap of mode 'opus-to-aac' would call it
   * for each frame its transcoder (../opus_aac_core.h) makes of the Opus packets OnOpus gets, with the transcoder's
   * AudioSpecificConfig given to OnAudioConfig before the first one (TapStreams::kAac is then the muxed codec).
   */
  void WriteAac(const uint8_t* data, uint32_t len, double ms);
  /** The transcoder's frames in aacOut_ to WriteAac (opusToAac). */
  void WriteTranscoded();
  /** A frame the tap admitted: timeline, file cut points, muxer. */
  void Mux(bool video, int64_t ts, bool keyframe, const uint8_t* data, size_t size);
  /** File mode, before a frame at `ms`: opens or rotates files. False when the frame must not go in. */
  bool Route(bool video, double ms, bool keyframe, const uint8_t* data, size_t size);
  bool OpenFile(double ms, const uint8_t* data, size_t size);
  /** Trailer, close, a tap-file event; false (and the tap failed) when the trailer could not be written. */
  bool CloseFile(TapCut cause, TapFileInfo* info);
  /** The current file's container carries a config the pipe no longer has. */
  bool VideoStale() const;
  bool AudioStale() const;
  /** A file could not be opened or written: the tap stops, the listener hears why. */
  void FailFiles(const std::string& message);
  /** Writes what the fd takes now; returns how much. A real error stops the tap (Fail). */
  size_t WriteSome(const uint8_t* buf, size_t size);
  void Flush();
  void Fail(const std::string& why);
  size_t Pending() const { return queue_.size() - head_; }

  TapOptions options_;
  TapListener* listener_ = nullptr;
  uint32_t id_ = 0;
  int fd_ = -1;            // fd mode: dup of options_.fd
  bool socket_ = false;
  std::unique_ptr<TapMuxer> muxer_;  // fd mode: for the tap's life; file mode: the open file's
  std::unique_ptr<TapFiles> files_;  // file mode
  std::unique_ptr<RtmpTags> rtmp_;   // format 'rtmp' (instead of a muxer)
  std::vector<RtmpOutMessage> rtmpNew_;  // the messages of the frame being written, reused
  std::vector<RtmpOutMessage> kept_;     // 'rtmp' before Connect: the messages since the last keyframe
  size_t keptBytes_ = 0;
  std::vector<uint8_t> rtmpBuf_;      // chunks on their way to the fd, reused
  ParamSets sets_;                   // the pipe's latest configs (file mode: the next file's header)
  std::vector<uint8_t> asc_;
  ParamSets fileSets_;               // the open file's header was made from these
  std::vector<uint8_t> fileAsc_;
  uint64_t closedBytes_ = 0;         // the closed files' bytes
  double fileBaseMs_ = 0;            // MP4 and Matroska files each start at 0: the first frame's time
  bool waitKey_;           // video: nothing until the next keyframe (start, after drops, after a re-attach)
  bool started_ = false;   // the first keyframe (audio: frame) went in; later refusals count as drops
  bool failed_ = false;    // a write error: nothing more is written
  uint64_t lost_ = 0;      // bytes queued when the tap failed
  bool finished_ = false;
  Clock videoClock_, audioClock_;
  std::unique_ptr<roomgate::OpusAac> opusAac_;  // opusToAac only
  std::vector<roomgate::AacFrame> aacOut_;       // its frames, reused
  bool haveOpusTs_ = false;
  uint32_t lastOpusRaw_ = 0;
  int64_t opusTs_ = 0;     // the Opus clock, unwrapped
  std::vector<uint8_t> annexB_;        // the access unit being muxed
  std::vector<uint8_t> queue_;         // muxed bytes from head_ on wait for the fd
  size_t head_ = 0;
  TapStats stats_;
};

}  // namespace roomgate::plane
