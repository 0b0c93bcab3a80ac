// One libavformat output of a tap (tap.h): a container — MPEG-TS, Matroska, fragmented MP4 or raw ADTS — holding the
// tap's streams, its header made from the codec configs it is given, its bytes handed to callbacks (the tap's fd
// queue, or a recording file). A fd-mode tap keeps one for its life; a file-mode tap makes one per file.

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "h264_rtp.h"

extern "C" {
#include <libavutil/rational.h>
}

struct AVFormatContext;
struct AVIOContext;
struct AVPacket;

namespace roomgate::plane {

/** What a tap muxes, and into which container. */
struct TapStreams {
  bool video = false;
  enum Audio { kNoAudio, kAac, kOpus } audio = kNoAudio;
  std::string format = "mpegts";  // "mpegts", "matroska", "mp4" (fragmented), "adts" (AAC only), or "rtmp" (tap.h:
                                  // RTMP messages, no muxer)
  int width = 0, height = 0;      // the video track header's dimensions (Matroska, MP4); 0 when unknown
};

/** Throws std::runtime_error with a sentence when no muxer here can make `s` (unknown format, ADTS with video, …). */
void CheckTapStreams(const TapStreams& s);

/** Sample rate and channel count of an AAC AudioSpecificConfig (ISO 14496-3 1.6.2.1); false when malformed. */
bool ParseAsc(const std::vector<uint8_t>& asc, int* rate, int* channels);

/**
 * The picture size an H.264 access unit's SPS announces (cropping applied), read by libavcodec's parser: `annexB` is
 * a keyframe with its SPS/PPS in band. False when it has none.
 */
bool H264Dimensions(const uint8_t* annexB, size_t size, int* width, int* height);

/** Annex B: a start code, then the NAL unit. */
void AppendNal(std::vector<uint8_t>& out, const uint8_t* nal, size_t len);

/** libavformat's sentence for an error code. */
std::string AvError(int code);

class TapMuxer {
 public:
  /** Where the muxed bytes go. `seek` may be null (a stream: the muxers then write for a reader that cannot seek). */
  struct Output {
    void* opaque = nullptr;
    int (*write)(void* opaque, const uint8_t* buf, int size) = nullptr;
    int64_t (*seek)(void* opaque, int64_t offset, int whence) = nullptr;
  };

  /**
   * Makes the container and writes its header (through `out`). `sets` give the H.264 extradata, `asc` the AAC one.
   * Throws std::runtime_error with a sentence (missing or malformed config, a muxer that refuses the streams).
   */
  TapMuxer(const TapStreams& streams, const ParamSets& sets, const std::vector<uint8_t>& asc, const Output& out);
  ~TapMuxer();
  TapMuxer(const TapMuxer&) = delete;
  TapMuxer& operator=(const TapMuxer&) = delete;

  int videoStream() const { return videoStream_; }
  int audioStream() const { return audioStream_; }

  /**
   * One frame, `ts` and `duration` counted in `unit` (1/1000 s, or 1/48000 for Opus). A dts that would not rise moves
   * one tick on (the muxers refuse it). Returns "" or why the muxer refused the frame (that frame alone is lost).
   */
  std::string Write(int stream, int64_t ts, int64_t duration, AVRational unit, const uint8_t* data, size_t size, bool key);
  /** Hands what sits in the I/O buffer to the output. */
  void FlushIo();
  /**
   * A cut point: ends the MP4 fragment, the Matroska cluster, the MPEG-TS PES being gathered, and hands the bytes on —
   * so the output holds every frame written so far (its size is then exact, and a reader killed now finds them all).
   */
  void Cut();
  /** Writes the trailer (MP4 index, Matroska cues) and flushes. Once; later calls do nothing. */
  void Finish();

 private:
  void Free();

  Output out_;
  AVFormatContext* ctx_ = nullptr;
  AVIOContext* io_ = nullptr;
  AVPacket* packet_ = nullptr;
  int videoStream_ = -1, audioStream_ = -1;
  int64_t last_[2] = {INT64_MIN, INT64_MIN};  // each stream's last dts in its time base: dts must rise
  bool finished_ = false;
};

}  // namespace roomgate::plane
