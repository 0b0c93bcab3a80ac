// roomgate — Opus (48 kHz packets) → AAC-LC (raw 1024-sample access units), for recording WHIP
// publishers. The timeline rules are in opus_aac_core.h; this file implements them.
//
// Pipeline, all synchronous on the calling thread:
//   libopus opus_decode_float (interleaved float, channels_ wide: libopus down/up-mixes mono and
//   stereo packets itself) → pending_ (our own interleaved buffer: the decoder writes straight
//   into its tail, no copy) → 1024-sample planar AVFrames with pts on the input clock →
//   libavcodec's native "aac" encoder → AacFrame{data, pts48k}.
//
// The encoder's own audio frame queue turns each input frame's pts into its packets' pts (minus
// the 1024-sample priming), so re-timing only has to make sure a frame never straddles a jump.

#include "opus_aac_core.h"

#include "aac_opus_core.h"  // InstallAvLogCallback: keeps libav quiet on stderr

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/samplefmt.h>
}
#include <opus.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

namespace roomgate {
namespace {

constexpr int kMaxOpusPacketSamples = 5760;  // 120 ms at 48 kHz, the longest an Opus packet lasts
constexpr size_t kMaxOpusPacketBytes = 1 << 16;
// Timestamps beyond this are refused, so that pts - expected can never overflow int64.
constexpr int64_t kMaxAbsPts = int64_t(1) << 62;

std::string AvErr(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

int CheckedBitrate(int bitrate, int channels) {
  if (bitrate == 0) return 64000 * channels;
  if (bitrate < OpusAac::kMinBitrate || bitrate > OpusAac::kMaxBitrate) {
    throw std::out_of_range("OpusAac: bitrate must be 0 (64 kb/s per channel) or between " +
                            std::to_string(OpusAac::kMinBitrate) + " and " + std::to_string(OpusAac::kMaxBitrate) +
                            " bit/s (got " + std::to_string(bitrate) + ")");
  }
  return bitrate;
}

int CheckedChannels(int channels) {
  if (channels != 1 && channels != 2) {
    throw std::out_of_range("OpusAac: channels must be 1 or 2 (got " + std::to_string(channels) + ")");
  }
  return channels;
}

}  // namespace

struct OpusAac::Impl {
  Impl(int bitrateIn, int channelsIn) {
    channels_ = CheckedChannels(channelsIn);
    bitrate_ = CheckedBitrate(bitrateIn, channels_);
    int err = 0;
    dec_ = opus_decoder_create(kSampleRate, channels_, &err);
    if (!dec_ || err != OPUS_OK) throw std::runtime_error(std::string("OpusAac: opus_decoder_create: ") + opus_strerror(err));
    try {
      OpenEncoder();  // also fills asc_ and priming_, so Asc() is known before the first packet
    } catch (...) {
      FreeAll();
      throw;
    }
  }

  ~Impl() { FreeAll(); }

  void FreeAll() {
    CloseEncoder();
    if (dec_) {
      opus_decoder_destroy(dec_);
      dec_ = nullptr;
    }
  }

  // ------------------------------------------------------------------ encoder
  void OpenEncoder() {
    // By name: "aac" is FFmpeg's own encoder (libfdk_aac, where present, registers another name).
    const AVCodec* codec = avcodec_find_encoder_by_name("aac");
    if (!codec) throw std::runtime_error("OpusAac: libavcodec has no \"aac\" encoder");
    enc_ = avcodec_alloc_context3(codec);
    frame_ = av_frame_alloc();
    pkt_ = av_packet_alloc();
    if (!enc_ || !frame_ || !pkt_) {
      CloseEncoder();
      throw std::runtime_error("OpusAac: out of memory");
    }
    enc_->sample_fmt = AV_SAMPLE_FMT_FLTP;  // the only format FFmpeg's AAC encoder takes
    enc_->sample_rate = kSampleRate;
    av_channel_layout_default(&enc_->ch_layout, channels_);
    enc_->bit_rate = bitrate_;
    enc_->time_base = AVRational{1, kSampleRate};  // so packet pts are 48 kHz units as they are
    enc_->profile = FF_PROFILE_AAC_LOW;
    enc_->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;  // raw access units + the ASC as extradata
    enc_->thread_count = 1;
    int ret = avcodec_open2(enc_, codec, nullptr);
    if (ret < 0) {
      CloseEncoder();
      throw std::runtime_error("OpusAac: could not open the AAC encoder: " + AvErr(ret));
    }
    if (enc_->frame_size != kFrameSamples || !enc_->extradata || enc_->extradata_size < 2) {
      CloseEncoder();
      throw std::runtime_error("OpusAac: the AAC encoder did not announce 1024-sample frames and an AudioSpecificConfig");
    }
    asc_.assign(enc_->extradata, enc_->extradata + enc_->extradata_size);
    priming_ = enc_->initial_padding;
    frame_->format = AV_SAMPLE_FMT_FLTP;
    frame_->sample_rate = kSampleRate;
    frame_->nb_samples = kFrameSamples;
    av_channel_layout_default(&frame_->ch_layout, channels_);
    ret = av_frame_get_buffer(frame_, 0);
    if (ret < 0) {
      CloseEncoder();
      throw std::runtime_error("OpusAac: out of memory for a frame: " + AvErr(ret));
    }
  }

  void CloseEncoder() {
    if (enc_) avcodec_free_context(&enc_);
    if (frame_) av_frame_free(&frame_);
    if (pkt_) av_packet_free(&pkt_);
  }

  void NoteError(const std::string& what) {
    errors_++;
    lastError_ = what;
  }

  size_t PendingSamples() const { return (pending_.size() - pendingStart_) / (size_t)channels_; }

  // Sends `samples` (≤ 1024) pending samples as one frame at fifoPts_, collects what comes out.
  void EncodeFrame(int samples, std::vector<AacFrame>* out) {
    int ret = av_frame_make_writable(frame_);
    if (ret < 0) {
      NoteError("AAC encoder: frame not writable: " + AvErr(ret));
      return;
    }
    frame_->nb_samples = samples;
    const float* src = pending_.data() + pendingStart_;
    for (int c = 0; c < channels_; c++) {
      float* dst = reinterpret_cast<float*>(frame_->extended_data[c]);
      for (int i = 0; i < samples; i++) dst[i] = src[(size_t)i * channels_ + c];
    }
    frame_->pts = fifoPts_;
    fifoPts_ += samples;
    pendingStart_ += (size_t)samples * channels_;
    ret = avcodec_send_frame(enc_, frame_);
    if (ret < 0) NoteError("AAC encoder: " + AvErr(ret));
    Receive(out);
  }

  void Receive(std::vector<AacFrame>* out) {
    for (;;) {
      int ret = avcodec_receive_packet(enc_, pkt_);
      if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return;
      if (ret < 0) {
        NoteError("AAC encoder: " + AvErr(ret));
        return;
      }
      out->push_back(AacFrame{std::vector<uint8_t>(pkt_->data, pkt_->data + pkt_->size), pkt_->pts});
      framesOut_++;
      av_packet_unref(pkt_);
    }
  }

  void EncodeAvailable(std::vector<AacFrame>* out) {
    while (PendingSamples() >= (size_t)kFrameSamples) EncodeFrame(kFrameSamples, out);
    if (pendingStart_ > 0) {
      pending_.erase(pending_.begin(), pending_.begin() + (ptrdiff_t)pendingStart_);
      pendingStart_ = 0;
    }
  }

  // ------------------------------------------------------------------ pending PCM
  // Room for `samples` more at the tail of pending_; returns where they go.
  float* Grow(size_t samples) {
    const size_t old = pending_.size();
    pending_.resize(old + samples * (size_t)channels_, 0.0f);
    return pending_.data() + old;
  }
  // Gives back the part of the last Grow() the decoder did not write.
  void Shrink(size_t unusedSamples) { pending_.resize(pending_.size() - unusedSamples * (size_t)channels_); }

  // `samples` of silence, encoded as they complete frames so a long fill never holds much memory.
  void AppendSilence(int64_t samples, std::vector<AacFrame>* out) {
    while (samples > 0) {
      const int64_t n = std::min<int64_t>(samples, kFrameSamples);
      Grow((size_t)n);  // Grow zero-fills
      samples -= n;
      EncodeAvailable(out);
    }
  }

  // Concealment for `samples` (a multiple of 120, the 2.5 ms PLC granularity): with the packet
  // that ends the gap, libopus conceals all but the packet's own duration and then recovers that
  // last part from the packet's in-band FEC (browsers send it); without, plain PLC.
  void AppendConcealment(int samples, const uint8_t* next, size_t nextLen, std::vector<AacFrame>* out) {
    if (samples <= 0) return;
    float* dst = Grow((size_t)samples);
    int n = next ? opus_decode_float(dec_, next, (opus_int32)nextLen, dst, samples, 1) : OPUS_BAD_ARG;
    if (n != samples) n = opus_decode_float(dec_, nullptr, 0, dst, samples, 0);
    if (n != samples) std::fill(dst, dst + (size_t)samples * channels_, 0.0f);  // PLC refused: silence
    EncodeAvailable(out);
  }

  // Forward gap of `gap` samples before the packet (next, nextLen): concealment for up to
  // kMaxPlcSamples, right before the packet so FEC lines up; silence for the rest, first.
  void FillGap(int64_t gap, const uint8_t* next, size_t nextLen, std::vector<AacFrame>* out) {
    const int64_t plc = std::min(gap, kMaxPlcSamples) / 120 * 120;
    AppendSilence(gap - plc, out);
    AppendConcealment((int)plc, next, nextLen, out);
    expectIn_ += gap;
    gapFills_++;
    filledSamples_ += (uint64_t)gap;
  }

  // Pads what is pending to a whole frame and encodes it, so no frame straddles a timestamp jump.
  void FinishTimeline(std::vector<AacFrame>* out) {
    const size_t rest = PendingSamples() % kFrameSamples;
    if (rest) Grow(kFrameSamples - rest);
    EncodeAvailable(out);
  }

  void Anchor(int64_t pts) {
    anchored_ = true;
    expectIn_ = pts;
    fifoPts_ = pts - (int64_t)PendingSamples();
  }

  // ------------------------------------------------------------------ entry points
  void Push(const uint8_t* data, size_t len, int64_t pts, std::vector<AacFrame>* out) {
    packetsIn_++;
    // Checks that touch no state, so a rejected packet leaves the timeline as it was and the
    // next good packet conceals its place.
    if (len == 0) return NoteError("empty Opus packet");
    if (len > kMaxOpusPacketBytes) return NoteError("Opus packet larger than 64 KiB (" + std::to_string(len) + " bytes)");
    if (pts >= kMaxAbsPts || pts <= -kMaxAbsPts) return NoteError("pts48k " + std::to_string(pts) + " out of range (|pts48k| < 2^62)");
    const int duration = opus_packet_get_nb_samples(data, (opus_int32)len, kSampleRate);
    if (duration <= 0 || duration > kMaxOpusPacketSamples) {
      return NoteError(std::string("invalid Opus packet: ") + (duration <= 0 ? opus_strerror(duration) : "longer than 120 ms"));
    }
    if (!enc_) {  // after Flush(): a new timeline, a new encoder
      try {
        OpenEncoder();
      } catch (const std::exception& e) {
        return NoteError(e.what());
      }
    }

    if (!anchored_) {
      Anchor(pts);
    } else {
      const int64_t gap = pts - expectIn_;
      if (gap > kMaxFillSamples || gap < -kMaxFillSamples) {
        FinishTimeline(out);
        opus_decoder_ctl(dec_, OPUS_RESET_STATE);  // nothing to conceal across a jump
        Anchor(pts);
        resyncs_++;
      } else if (gap < -kJitterSamples) {
        late_++;  // its place is taken already: decoding it would only corrupt the decoder's state
        return;
      } else if (gap > kJitterSamples) {
        FillGap(gap, data, len, out);
      }
    }

    float* dst = Grow(kMaxOpusPacketSamples);
    const int n = opus_decode_float(dec_, data, (opus_int32)len, dst, kMaxOpusPacketSamples, 0);
    if (n < 0) {
      Shrink(kMaxOpusPacketSamples);
      // expectIn_ stays: the next packet finds the gap and conceals this one's place.
      return NoteError(std::string("Opus decode: ") + opus_strerror(n));
    }
    Shrink((size_t)(kMaxOpusPacketSamples - n));
    expectIn_ += n;
    EncodeAvailable(out);
  }

  void Flush(std::vector<AacFrame>* out) {
    if (!anchored_ || !enc_) return;
    const size_t rest = PendingSamples();
    if (rest > 0) EncodeFrame((int)rest, out);  // a short last frame: the encoder pads and trims it
    int ret = avcodec_send_frame(enc_, nullptr);
    if (ret < 0) NoteError("AAC encoder drain: " + AvErr(ret));
    Receive(out);
    pending_.clear();
    pendingStart_ = 0;
    CloseEncoder();
    opus_decoder_ctl(dec_, OPUS_RESET_STATE);
    anchored_ = false;
  }

  Stats GetStats() const {
    Stats s;
    s.packetsIn = packetsIn_;
    s.framesOut = framesOut_;
    s.errors = errors_;
    s.gapFills = gapFills_;
    s.filledSamples = filledSamples_;
    s.late = late_;
    s.resyncs = resyncs_;
    s.lastError = lastError_;
    return s;
  }

  // ------------------------------------------------------------------ state
  OpusDecoder* dec_ = nullptr;
  AVCodecContext* enc_ = nullptr;
  AVFrame* frame_ = nullptr;
  AVPacket* pkt_ = nullptr;
  int channels_ = 2;
  int bitrate_ = 128000;
  int priming_ = 0;
  std::vector<uint8_t> asc_;

  std::vector<float> pending_;  // interleaved; pending_[pendingStart_] is at fifoPts_
  size_t pendingStart_ = 0;
  bool anchored_ = false;
  int64_t fifoPts_ = 0;   // pts of the next sample handed to the encoder
  int64_t expectIn_ = 0;  // where the next packet should start: end of the audio taken so far

  uint64_t packetsIn_ = 0, framesOut_ = 0, errors_ = 0, gapFills_ = 0, filledSamples_ = 0, late_ = 0, resyncs_ = 0;
  std::string lastError_;
};

// ---------------------------------------------------------------------------------------------
OpusAac::OpusAac(int bitrate, int channels) {
  InstallAvLogCallback();
  impl_ = std::make_unique<Impl>(bitrate, channels);
}

OpusAac::~OpusAac() = default;

void OpusAac::Push(const uint8_t* opus, size_t len, int64_t pts48k, std::vector<AacFrame>* out) {
  impl_->Push(opus, len, pts48k, out);
}
void OpusAac::Flush(std::vector<AacFrame>* out) { impl_->Flush(out); }

const std::vector<uint8_t>& OpusAac::Asc() const { return impl_->asc_; }
int OpusAac::priming() const { return impl_->priming_; }
int OpusAac::channels() const { return impl_->channels_; }
int OpusAac::bitrate() const { return impl_->bitrate_; }
uint64_t OpusAac::errors() const { return impl_->errors_; }
OpusAac::Stats OpusAac::stats() const { return impl_->GetStats(); }

}  // namespace roomgate
