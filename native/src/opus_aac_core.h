// roomgate — Opus → AAC transcoder core, plain C++17 (no N-API): Opus packets (48 kHz RTP
// clock, as a WHIP publisher sends them) in, raw AAC-LC access units of 1024 samples at 48 kHz
// out. The mirror image of aac_opus_core.h, for cloud recording: HLS-TS players and TRTC's
// recording files expect AAC.
//
// Pipeline (opus_aac_core.cc): libopus decoder (float, 48 kHz, 1 or 2 channels) → AVAudioFifo →
// libavcodec's native "aac" encoder (AAC-LC), 1024 samples per frame.
//
// Timeline (all in 48 kHz units, the input's own clock): every frame's pts48k is derived from the
// input timestamps, never from a count of frames made, so a recording's A/V sync holds:
//  * the first frame's pts48k is the first packet's pts48k minus priming() (the encoder's delay,
//    1024 samples): decoding the frames in order puts input sample t at time t;
//  * a forward gap (DTX, packet loss, a packet the decoder rejected) up to kMaxFillSamples is
//    FILLED: libopus' concealment (PLC, comfort noise after DTX) for its first kMaxPlcSamples,
//    silence after that, so later frames stay on the input timeline and the audio stays
//    continuous (players of TS segments dislike holes);
//  * a jump beyond kMaxFillSamples (either way) is RE-TIMED: the samples buffered so far are
//    padded to a whole frame and encoded, and the following frames carry the new timestamps
//    (stats().resyncs); the muxer sees a jump in pts48k;
//  * a packet that starts before the end of the audio already taken (a duplicate or a late
//    packet, by more than kJitterSamples) is dropped (stats().late);
//  * differences up to kJitterSamples either way are taken as contiguous.
//
// Errors: the constructor throws std::out_of_range (bitrate, channels out of range, with a
// sentence naming the option) or std::runtime_error (libopus/libavcodec set-up failure). Push()
// never throws for bad data: an Opus packet the decoder rejects is counted in errors() and
// skipped, and the gap it leaves is concealed when the next packet arrives.
//
// Threading: an instance is used by one thread at a time; different instances are independent.
// This header includes no libav/libopus header: the state lives behind a pointer.

#ifndef ROOMGATE_OPUS_AAC_CORE_H_
#define ROOMGATE_OPUS_AAC_CORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace roomgate {

// One raw AAC-LC access unit (no ADTS header): 1024 samples per channel at 48 kHz.
struct AacFrame {
  std::vector<uint8_t> data;
  int64_t pts48k;  // timestamp of its first sample, 48 kHz units, on the input's clock
};

class OpusAac {
 public:
  static constexpr int kSampleRate = 48000;
  static constexpr int kFrameSamples = 1024;
  static constexpr int kMinBitrate = 16000;   // below this AAC-LC at 48 kHz is unusable
  static constexpr int kMaxBitrate = 320000;  // above this FFmpeg's encoder gains nothing audible
  static constexpr int64_t kJitterSamples = 120;              // 2.5 ms, the smallest Opus frame
  static constexpr int64_t kMaxPlcSamples = 48000;            // 1 s: covers DTX's 400 ms updates
  static constexpr int64_t kMaxFillSamples = 10 * 48000;      // 10 s; longer gaps are re-timed

  struct Stats {
    uint64_t packetsIn = 0;      // Push() calls
    uint64_t framesOut = 0;      // AAC frames produced (Push + Flush)
    uint64_t errors = 0;         // packets the Opus decoder rejected + encoder failures
    uint64_t gapFills = 0;       // forward gaps filled (concealment, then silence)
    uint64_t filledSamples = 0;  // samples per channel those fills added
    uint64_t late = 0;           // packets dropped for starting before the audio already taken
    uint64_t resyncs = 0;        // jumps beyond kMaxFillSamples, re-timed
    std::string lastError;       // last error message, empty when none
  };

  // bitrate in bit/s, kMinBitrate..kMaxBitrate, or 0 for the default (64 kb/s per channel:
  // 128000 stereo, 64000 mono); channels 1 or 2 (the Opus decoder down- or up-mixes whatever
  // the packets carry). Throws std::out_of_range otherwise.
  explicit OpusAac(int bitrate = 0, int channels = 2);
  ~OpusAac();
  OpusAac(const OpusAac&) = delete;
  OpusAac& operator=(const OpusAac&) = delete;

  // Decodes one Opus packet whose first sample is at pts48k (unwrapped, monotonic: the caller
  // extends the 32-bit RTP timestamp) and appends the AAC frames it completes to *out (often
  // none: a frame needs 1024 samples, a packet usually brings 960). Never throws for bad data.
  void Push(const uint8_t* opus, size_t len, int64_t pts48k, std::vector<AacFrame>* out);
  // End of stream: encodes what is buffered (a short last frame) and drains the encoder into
  // *out. A later Push() starts a new timeline (fresh encoder, priming again).
  void Flush(std::vector<AacFrame>* out);

  // The AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) the frames need: a muxer's extradata.
  const std::vector<uint8_t>& Asc() const;
  // Encoder delay in samples (1024): the first frame's pts48k is the first input pts48k minus it.
  int priming() const;
  int channels() const;
  int bitrate() const;
  uint64_t errors() const;
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace roomgate

#endif  // ROOMGATE_OPUS_AAC_CORE_H_
