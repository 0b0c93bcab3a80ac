// roomgate — AAC (raw access units + AudioSpecificConfig) → Opus (48 kHz, 20 ms packets), the
// transcoder itself in plain C++ (no N-API). aac_opus.cc wraps it for JS; the RTMP data plane
// calls it from its own thread.
//
// Pipeline, all synchronous on the calling thread:
//   libavcodec "aac" decoder → libswresample (any rate/layout → 48 kHz interleaved float,
//   1 or 2 channels) → gain (volume %, ramped over one packet, clipped to ±1.0) →
//   libopus opus_encode_float, 960 samples per packet.
//
// Timestamps follow the SOURCE clock (see Timeline below), in 48 kHz RTP units, unwrapped
// (the caller adds its RTP offset and wraps to 32 bits).
//
// A frame the decoder rejects never throws: Push() appends what it has (usually nothing),
// stats.errors is incremented and the next good frame decodes normally.

#include "aac_opus_core.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libavutil/samplefmt.h>
#include <libswresample/swresample.h>
}
#include <opus.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace roomgate {
namespace {

constexpr int kOutRate = 48000;
constexpr int kFrameSamples = 960;            // 20 ms @ 48 kHz
constexpr int kMaxOpusPacket = 4000;          // libopus' recommended max_data_bytes
constexpr double kResyncThreshold = 200 * 48; // 200 ms in 48 kHz units
constexpr double kMinGapFill = 5 * 48;        // never fill gaps shorter than 5 ms (ms-rounding jitter)

// ---------------------------------------------------------------------------------------------
// FFmpeg logging: keep libav quiet on stderr (a corrupt frame would otherwise print a line per
// frame), but remember the last error-level message of this thread so it can be reported in
// errors and stats.lastError. The decoder runs single-threaded (thread_count = 1), so libav logs
// on the thread that called into it: the JS thread for the wrapper, the data plane's own thread
// for its instances. ROOMGATE_AV_LOG=1 additionally forwards to FFmpeg's default logger.
//
// av_log_set_callback is process-wide. Should two shared objects each contain a copy of this
// file (two .node addons), only the copy that installed last sees its messages; the other falls
// back to av_strerror() texts in its error messages (behaviour is otherwise the same).
thread_local std::string g_lastAvMessage;
std::atomic<bool> g_forwardAvLog{false};
std::once_flag g_avLogOnce;

void AvLogCallback(void* avcl, int level, const char* fmt, va_list vl) {
  if (g_forwardAvLog.load(std::memory_order_relaxed)) {
    va_list copy;
    va_copy(copy, vl);
    av_log_default_callback(avcl, level, fmt, copy);
    va_end(copy);
  }
  if (level > AV_LOG_ERROR) return;
  char buf[512];
  int n = vsnprintf(buf, sizeof buf, fmt, vl);
  if (n <= 0) return;
  std::string msg(buf);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r' || msg.back() == ' ')) msg.pop_back();
  if (!msg.empty()) g_lastAvMessage = msg;
}

std::string VersionString(unsigned v) {
  return std::to_string(AV_VERSION_MAJOR(v)) + "." + std::to_string(AV_VERSION_MINOR(v)) + "." +
         std::to_string(AV_VERSION_MICRO(v));
}

std::string AvErr(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) — parsed only to produce readable errors;
// the decoder itself is configured from the raw bytes (extradata).
const int kSampleRates[13] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                              22050, 16000, 12000, 11025, 8000,  7350};

struct BitReader {
  const uint8_t* p;
  size_t bits;
  size_t pos = 0;
  bool overrun = false;
  BitReader(const uint8_t* d, size_t n) : p(d), bits(n * 8) {}
  uint32_t Get(int n) {
    uint32_t v = 0;
    for (int i = 0; i < n; i++) {
      if (pos >= bits) {
        overrun = true;
        return 0;
      }
      v = (v << 1) | ((p[pos >> 3] >> (7 - (pos & 7))) & 1);
      pos++;
    }
    return v;
  }
};

struct AscInfo {
  int objectType = 0;
  int samplingIndex = -1;
  int sampleRate = 0;
  int channelConfig = 0;
  int extObjectType = 0;  // 5 (SBR) or 29 (PS) when explicitly signalled
  int extSampleRate = 0;
  std::string problem;  // empty when it looks valid
};

int ReadObjectType(BitReader& br) {
  int t = (int)br.Get(5);
  if (t == 31) t = 32 + (int)br.Get(6);
  return t;
}

int ReadSampleRate(BitReader& br, int* index, std::string* problem) {
  int idx = (int)br.Get(4);
  if (index) *index = idx;
  if (idx == 15) return (int)br.Get(24);
  if (idx > 12) {
    *problem = "reserved samplingFrequencyIndex " + std::to_string(idx);
    return 0;
  }
  return kSampleRates[idx];
}

AscInfo ParseAsc(const uint8_t* d, size_t n) {
  AscInfo a;
  if (n < 2) {
    a.problem = "too short (" + std::to_string(n) + " byte" + (n == 1 ? "" : "s") + ", need at least 2)";
    return a;
  }
  BitReader br(d, n);
  a.objectType = ReadObjectType(br);
  a.sampleRate = ReadSampleRate(br, &a.samplingIndex, &a.problem);
  a.channelConfig = (int)br.Get(4);
  if (a.objectType == 5 || a.objectType == 29) {
    a.extObjectType = a.objectType;
    std::string p2;
    a.extSampleRate = ReadSampleRate(br, nullptr, &p2);
    if (a.problem.empty()) a.problem = p2;
    a.objectType = ReadObjectType(br);
  }
  if (br.overrun && a.problem.empty()) a.problem = "truncated";
  if (a.problem.empty() && a.objectType == 0) a.problem = "audioObjectType 0 (null object)";
  if (a.problem.empty() && a.sampleRate <= 0) a.problem = "sampling frequency 0";
  return a;
}

std::string DescribeAsc(const AscInfo& a) {
  std::string s = "audioObjectType=" + std::to_string(a.objectType);
  if (a.extObjectType) s += " (explicit " + std::string(a.extObjectType == 29 ? "PS" : "SBR") +
                            ", output " + std::to_string(a.extSampleRate) + " Hz)";
  s += ", sampleRate=" + std::to_string(a.sampleRate) + ", channelConfiguration=" + std::to_string(a.channelConfig);
  return s;
}

std::string Hex(const uint8_t* d, size_t n) {
  static const char* k = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n && i < 16; i++) {
    s += k[d[i] >> 4];
    s += k[d[i] & 15];
  }
  if (n > 16) s += "…";
  return s;
}

}  // namespace

void InstallAvLogCallback() {
  std::call_once(g_avLogOnce, [] {
    const char* fwd = getenv("ROOMGATE_AV_LOG");
    g_forwardAvLog.store(fwd && *fwd && strcmp(fwd, "0") != 0, std::memory_order_relaxed);
    av_log_set_callback(AvLogCallback);
  });
}

AacOpusLibraryVersions GetAacOpusLibraryVersions() {
  return {VersionString(avcodec_version()), VersionString(swresample_version()), opus_get_version_string()};
}

// ---------------------------------------------------------------------------------------------
// Options shared with the JS wrapper.

double AacOpus::CheckOption(const OptionRange& r, double d) {
  if (!std::isfinite(d) || d < r.min || d > r.max) {
    char buf[160];
    snprintf(buf, sizeof buf, "AacOpusTranscoder: options.%s must be between %g and %g (got %g)", r.name, r.min, r.max, d);
    throw std::out_of_range(buf);
  }
  if (r.integer && d != std::floor(d)) {
    throw std::out_of_range(std::string("AacOpusTranscoder: options.") + r.name + " must be an integer");
  }
  return d;
}

AacOpus::Application AacOpus::ParseApplication(const std::string& app) {
  if (app == "audio") return Application::kAudio;
  if (app == "lowdelay") return Application::kLowDelay;
  if (app == "voip") return Application::kVoip;
  throw std::invalid_argument("AacOpusTranscoder: options.application must be 'audio', 'lowdelay' or 'voip'");
}

const char* AacOpus::ApplicationName(Application a) {
  return a == Application::kAudio ? "audio" : a == Application::kVoip ? "voip" : "lowdelay";
}

// ---------------------------------------------------------------------------------------------
struct AacOpus::Impl {
  explicit Impl(Options&& opts) {
    // --- options (the JS wrapper checked them already, in its own order; C++ callers may not have)
    CheckOption(kBitrateRange, opts.bitrate);
    CheckOption(kChannelsRange, opts.channels);
    CheckOption(kComplexityRange, opts.complexity);
    CheckOption(kVolumeRange, opts.volume);
    if (opts.packetLossPercent) CheckOption(kPacketLossPercentRange, *opts.packetLossPercent);
    bitrate_ = opts.bitrate;
    channels_ = opts.channels;
    const int complexity = opts.complexity;
    const double volume = opts.volume;
    const bool fec = opts.fec;
    const int lossPct = opts.packetLossPercent ? *opts.packetLossPercent : (fec ? 10 : 0);
    // Default application: RESTRICTED_LOWDELAY (CELT only, 2.5 ms codec delay) whenever
    // libopus 1.3's AUDIO mode would pick CELT-only anyway — stereo >= 44 kb/s, mono >= 64 kb/s
    // (opus_encoder.c mode_thresholds for voice) — so the output is the same minus 4 ms of delay
    // (measured CPU is equal). Below that, AUDIO, whose SILK/hybrid modes code speech better.
    int application = (channels_ == 2 ? bitrate_ >= 44000 : bitrate_ >= 64000)
                          ? OPUS_APPLICATION_RESTRICTED_LOWDELAY
                          : OPUS_APPLICATION_AUDIO;
    if (opts.application) {
      switch (*opts.application) {
        case Application::kAudio: application = OPUS_APPLICATION_AUDIO; break;
        case Application::kLowDelay: application = OPUS_APPLICATION_RESTRICTED_LOWDELAY; break;
        case Application::kVoip: application = OPUS_APPLICATION_VOIP; break;
      }
    }
    volume_ = volume;
    gain_ = targetGain_ = (float)(volume / 100.0);
    std::vector<uint8_t> asc = std::move(opts.asc);

    // --- AAC decoder
    AscInfo ai = ParseAsc(asc.data(), asc.size());
    if (!ai.problem.empty()) {
      throw std::runtime_error("invalid AAC AudioSpecificConfig <" + Hex(asc.data(), asc.size()) + ">: " + ai.problem);
    }
    // An in-band program_config_element re-configures the decoder's channel layout. It is only
    // meaningful when the ASC says channelConfiguration=0; otherwise it is corruption, and
    // letting libavcodec act on it makes it allocate up to ~26 MB of channel elements (each
    // with SBR state) for a garbage layout. Such frames are rejected before the decoder.
    rejectPce_ = ai.channelConfig != 0 && ai.objectType >= 1 && ai.objectType <= 4;
    static const int kConfigChannels[8] = {0, 1, 2, 3, 4, 5, 6, 8};
    expectChannels_ = ai.channelConfig < 8 ? kConfigChannels[ai.channelConfig] : 0;
    ascRate_ = ai.sampleRate;
    ascExtRate_ = ai.extSampleRate;
    asc_ = std::move(asc);
    pkt_ = av_packet_alloc();
    frame_ = av_frame_alloc();
    if (!pkt_ || !frame_) {
      FreeAll();
      throw std::runtime_error("AacOpusTranscoder: out of memory");
    }
    int ret = OpenDecoder();
    if (ret < 0) {
      std::string why = g_lastAvMessage.empty() ? AvErr(ret) : g_lastAvMessage;
      std::string hex = Hex(asc_.data(), asc_.size());
      FreeAll();
      throw std::runtime_error("invalid AAC AudioSpecificConfig <" + hex + "> [" + DescribeAsc(ai) + "]: " + why);
    }

    // --- Opus encoder
    int oerr = 0;
    application_ = application;
    enc_ = opus_encoder_create(kOutRate, channels_, application, &oerr);
    if (!enc_ || oerr != OPUS_OK) {
      FreeAll();
      throw std::runtime_error(std::string("AacOpusTranscoder: opus_encoder_create: ") + opus_strerror(oerr));
    }
    opus_encoder_ctl(enc_, OPUS_SET_BITRATE(bitrate_));
    opus_encoder_ctl(enc_, OPUS_SET_COMPLEXITY(complexity));
    opus_encoder_ctl(enc_, OPUS_SET_INBAND_FEC(fec ? 1 : 0));
    opus_encoder_ctl(enc_, OPUS_SET_PACKET_LOSS_PERC(lossPct));
    opus_encoder_ctl(enc_, OPUS_SET_DTX(0));
    opus_encoder_ctl(enc_, OPUS_SET_VBR(1));
    opus_int32 la = 0;
    opus_encoder_ctl(enc_, OPUS_GET_LOOKAHEAD(&la));
    lookahead_ = la;

    opusBuf_.resize(kMaxOpusPacket);
  }

  ~Impl() { FreeAll(); }

  // ------------------------------------------------------------------ resources
  void FreeSwr() {
    if (swr_) swr_free(&swr_);
    av_channel_layout_uninit(&swrInLayout_);
    swrInRate_ = 0;
    swrInFmt_ = AV_SAMPLE_FMT_NONE;
  }

  // (Re)open the AAC decoder from the stored ASC. Used at construction and after a decode error.
  int OpenDecoder() {
    if (dec_) avcodec_free_context(&dec_);
    const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_AAC);
    if (!codec) return AVERROR_DECODER_NOT_FOUND;
    dec_ = avcodec_alloc_context3(codec);
    if (!dec_) return AVERROR(ENOMEM);
    dec_->extradata = (uint8_t*)av_mallocz(asc_.size() + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!dec_->extradata) {
      avcodec_free_context(&dec_);
      return AVERROR(ENOMEM);
    }
    memcpy(dec_->extradata, asc_.data(), asc_.size());
    dec_->extradata_size = (int)asc_.size();
    dec_->thread_count = 1;
    g_lastAvMessage.clear();
    int ret = avcodec_open2(dec_, codec, nullptr);
    if (ret < 0) avcodec_free_context(&dec_);
    return ret;
  }

  // After a corrupt frame changed the decoder's output format: start again from a clean decoder
  // so the garbage channel configuration (and the memory libavcodec allocated for it) is dropped.
  void ResetDecoder() {
    decoderResets_++;
    int ret = OpenDecoder();
    if (ret < 0) NoteError("AAC decoder reopen failed: " + AvErr(ret));
  }

  // The decoder's output must match what the ASC announced: its channel count (a mono
  // HE-AAC/PS source is output as stereo) and its rate (core, explicit SBR/PS rate, or twice the
  // core rate for implicit SBR). Anything else came from a corrupt frame.
  bool PlausibleFormat(const AVFrame* f) const {
    const int ch = f->ch_layout.nb_channels;
    if (ch < 1 || ch > 64) return false;
    if (expectChannels_ > 0 && ch != expectChannels_ && !(expectChannels_ == 1 && ch == 2)) return false;
    const int r = f->sample_rate;
    return r == ascRate_ || r == 2 * ascRate_ || (ascExtRate_ > 0 && r == ascExtRate_);
  }

  void FreeAll() {
    FreeSwr();
    if (dec_) avcodec_free_context(&dec_);  // also frees extradata
    if (pkt_) av_packet_free(&pkt_);
    if (frame_) av_frame_free(&frame_);
    if (enc_) {
      opus_encoder_destroy(enc_);
      enc_ = nullptr;
    }
    std::vector<float>().swap(pcm_);
    std::vector<float>().swap(resampled_);
    std::vector<uint8_t>().swap(inBuf_);
    std::vector<uint8_t>().swap(silence_);
    std::vector<uint8_t>().swap(asc_);
    std::vector<uint8_t>().swap(outBytes_);
    std::vector<Packet>().swap(out_);
    std::vector<uint8_t>().swap(opusBuf_);
    pcmStart_ = 0;
  }

  void NoteError(const std::string& what) {
    errors_++;
    lastError_ = what;
  }

  // ------------------------------------------------------------------ resampler
  // (Re)create the resampler for the decoder's current output format. Mono sources are
  // duplicated to both channels at unity gain when channels=2; stereo is averaged when
  // channels=1; anything wider uses swresample's default downmix, normalised to avoid clipping.
  bool EnsureSwr(const AVFrame* f) {
    AVChannelLayout inLayout{};
    if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || f->ch_layout.order == AV_CHANNEL_ORDER_CUSTOM) {
      av_channel_layout_default(&inLayout, f->ch_layout.nb_channels);
    } else {
      av_channel_layout_copy(&inLayout, &f->ch_layout);
    }
    if (swr_ && swrInRate_ == f->sample_rate && swrInFmt_ == (AVSampleFormat)f->format &&
        av_channel_layout_compare(&swrInLayout_, &inLayout) == 0) {
      av_channel_layout_uninit(&inLayout);
      return true;
    }
    if (swr_) {
      DrainSwr();  // keep the samples still inside the old filter; the timeline stays contiguous
      FreeSwr();
    }
    AVChannelLayout outLayout{};
    av_channel_layout_default(&outLayout, channels_);
    int ret = swr_alloc_set_opts2(&swr_, &outLayout, AV_SAMPLE_FMT_FLT, kOutRate, &inLayout,
                                  (AVSampleFormat)f->format, f->sample_rate, 0, nullptr);
    av_channel_layout_uninit(&outLayout);
    if (ret < 0 || !swr_) {
      av_channel_layout_uninit(&inLayout);
      NoteError("swr_alloc_set_opts2: " + AvErr(ret));
      return false;
    }
    const int inCh = inLayout.nb_channels;
    if (inCh == 1 && channels_ == 2) {
      const double m[2] = {1.0, 1.0};
      swr_set_matrix(swr_, m, 1);
    } else if (inCh == 2 && channels_ == 1) {
      const double m[2] = {0.5, 0.5};
      swr_set_matrix(swr_, m, 2);
    } else if (inCh > 2) {
      av_opt_set_double(swr_, "rematrix_maxval", 1.0, 0);
    }
    ret = swr_init(swr_);
    if (ret < 0) {
      swr_free(&swr_);
      av_channel_layout_uninit(&inLayout);
      NoteError("swr_init: " + AvErr(ret));
      return false;
    }
    swrInLayout_ = inLayout;  // takes ownership
    swrInRate_ = f->sample_rate;
    swrInFmt_ = (AVSampleFormat)f->format;
    return true;
  }

  void AppendResampled(const uint8_t** in, int inSamples) {
    int cap = swr_get_out_samples(swr_, inSamples);
    if (cap <= 0) return;
    resampled_.resize((size_t)cap * channels_);
    uint8_t* out[1] = {(uint8_t*)resampled_.data()};
    int got = swr_convert(swr_, out, cap, in, inSamples);
    if (got < 0) {
      NoteError("swr_convert: " + AvErr(got));
      return;
    }
    pcm_.insert(pcm_.end(), resampled_.begin(), resampled_.begin() + (size_t)got * channels_);
  }

  void DrainSwr() {
    if (swr_) AppendResampled(nullptr, 0);
  }

  // ------------------------------------------------------------------ encoder
  size_t BufferedSamples() const { return (pcm_.size() - pcmStart_) / (size_t)channels_; }

  void EncodeAvailable() {
    const size_t step = (size_t)kFrameSamples * channels_;
    while (pcm_.size() - pcmStart_ >= step) {
      float* p = pcm_.data() + pcmStart_;
      ApplyGain(p);
      int n = opus_encode_float(enc_, p, kFrameSamples, opusBuf_.data(), (opus_int32)opusBuf_.size());
      if (n < 0) {
        NoteError(std::string("opus_encode_float: ") + opus_strerror(n));
      } else {
        out_.push_back({(size_t)n, nextTs_});
        outBytes_.insert(outBytes_.end(), opusBuf_.begin(), opusBuf_.begin() + n);
        packetsOut_++;
      }
      nextTs_ += kFrameSamples;
      pcmStart_ += step;
    }
    if (pcmStart_ > 0) {
      pcm_.erase(pcm_.begin(), pcm_.begin() + (ptrdiff_t)pcmStart_);
      pcmStart_ = 0;
    }
  }

  // Gain (volume/100), linearly ramped across one packet when it changes, then clip to ±1.
  void ApplyGain(float* p) {
    const int ch = channels_;
    if (gain_ == targetGain_) {
      const float g = gain_;
      const size_t n = (size_t)kFrameSamples * ch;
      if (g == 1.0f) {
        for (size_t i = 0; i < n; i++) p[i] = std::clamp(p[i], -1.0f, 1.0f);
      } else {
        for (size_t i = 0; i < n; i++) p[i] = std::clamp(p[i] * g, -1.0f, 1.0f);
      }
      return;
    }
    const float g0 = gain_, g1 = targetGain_;
    for (int s = 0; s < kFrameSamples; s++) {
      const float g = g0 + (g1 - g0) * (float)(s + 1) / (float)kFrameSamples;
      for (int c = 0; c < ch; c++) {
        float& v = p[(size_t)s * ch + c];
        v = std::clamp(v * g, -1.0f, 1.0f);
      }
    }
    gain_ = g1;
  }

  // Emit everything still buffered (resampler tail, remainder zero-padded so that it also
  // pushes the encoder's lookahead out) on the current timeline, then forget the timeline.
  void DrainAll() {
    if (!enc_) return;
    DrainSwr();
    size_t have = BufferedSamples();
    if (have > 0) {
      size_t total = have + (size_t)lookahead_;
      size_t packets = (total + kFrameSamples - 1) / kFrameSamples;
      pcm_.resize(pcm_.size() + (packets * kFrameSamples - have) * channels_, 0.0f);
    }
    EncodeAvailable();
    FreeSwr();
    anchored_ = false;
  }

  // ------------------------------------------------------------------ timeline
  // Timeline (source clock, 48 kHz units):
  //  * the first decoded frame anchors it: packet timestamp = round(ptsMs * 48), then +960;
  //  * inClock_ predicts the pts of the next input frame from the samples decoded so far;
  //  * a frame whose pts is earlier than the previous frame's (backwards), or differs from the
  //    prediction by more than 200 ms, is a clock jump → resync: drain the old timeline
  //    (remainder zero-padded) and re-anchor on this frame;
  //  * a forward gap between max(5 ms, half a source frame) and 200 ms (lost/corrupt frames)
  //    is filled with silence so the packet timestamps stay aligned with the source clock;
  //  * smaller deviations are timestamp jitter and are ignored.
  void CheckTimeline(double ptsMs) {
    if (!anchored_) return;
    const double src = ptsMs * 48.0;
    const double diff = src - inClock_;
    if (ptsMs < lastPtsMs_ || diff > kResyncThreshold || diff < -kResyncThreshold) {
      DrainAll();
      resyncs_++;
      return;
    }
    const double minGap = std::max(kMinGapFill, lastFrameDur48_ * 0.5);
    if (diff >= minGap) {
      if (swr_ && swrInRate_ > 0) {
        // Feed the silence through the resampler now (not swr_inject_silence, which would keep
        // it inside swr until the next good frame): a long run of bad frames then yields silent
        // packets at the right timestamps instead of one huge burst when the stream recovers.
        const int nIn = (int)llround(diff * swrInRate_ / 48000.0);
        if (nIn > 0) {
          const bool planar = av_sample_fmt_is_planar(swrInFmt_);
          const int ch = swrInLayout_.nb_channels;
          const size_t bytes = (size_t)nIn * av_get_bytes_per_sample(swrInFmt_) * (planar ? 1 : ch);
          silence_.assign(bytes, 0);
          std::vector<const uint8_t*> planes(planar ? ch : 1, silence_.data());
          AppendResampled(planes.data(), nIn);
          inClock_ += (double)nIn * 48000.0 / swrInRate_;
        }
      } else {
        int64_t n = llround(diff);
        pcm_.resize(pcm_.size() + (size_t)n * channels_, 0.0f);
        inClock_ += (double)n;
      }
      gapFills_++;
    }
  }

  void ProcessFrame(const AVFrame* f, double ptsMs) {
    if (f->nb_samples <= 0) return;
    if (!PlausibleFormat(f)) {
      NoteError("AAC decode: output format changed to " + std::to_string(f->sample_rate) + " Hz / " +
                std::to_string(f->ch_layout.nb_channels) + " ch (corrupt frame)");
      needReset_ = true;
      return;
    }
    if (!EnsureSwr(f)) return;
    if (!anchored_) {
      anchored_ = true;
      nextTs_ = llround(ptsMs * 48.0) - (int64_t)BufferedSamples();
      inClock_ = ptsMs * 48.0;
    }
    lastInRate_ = f->sample_rate;
    lastInChannels_ = f->ch_layout.nb_channels;
    AppendResampled((const uint8_t**)f->extended_data, f->nb_samples);
    lastFrameDur48_ = (double)f->nb_samples * 48000.0 / f->sample_rate;
    inClock_ += lastFrameDur48_;
    samplesIn_ += (uint64_t)f->nb_samples;
  }

  // ------------------------------------------------------------------ entry points
  void Push(const uint8_t* data, size_t n, double ptsMs) {
    if (!std::isfinite(ptsMs)) throw std::invalid_argument("push(frame, ptsMs): ptsMs must be finite");
    if (closed_) return;

    framesIn_++;
    if (n == 0 || n > (1u << 20)) {
      NoteError(n == 0 ? "empty AAC frame" : "AAC frame larger than 1 MiB");
      return;
    }

    // raw_data_block(): the first syntactic element id is the top 3 bits (5 = ID_PCE).
    if (rejectPce_ && (data[0] >> 5) == 5) {
      NoteError("AAC frame starts with a program_config_element but the ASC has a fixed channelConfiguration");
      return;
    }
    if (!dec_) {  // a previous reopen failed (out of memory): try again
      ResetDecoder();
      if (!dec_) return;
    }

    CheckTimeline(ptsMs);
    lastPtsMs_ = ptsMs;

    inBuf_.resize(n + AV_INPUT_BUFFER_PADDING_SIZE);
    memcpy(inBuf_.data(), data, n);
    memset(inBuf_.data() + n, 0, AV_INPUT_BUFFER_PADDING_SIZE);
    av_packet_unref(pkt_);
    pkt_->data = inBuf_.data();
    pkt_->size = (int)n;

    g_lastAvMessage.clear();
    int ret = avcodec_send_packet(dec_, pkt_);
    pkt_->data = nullptr;
    pkt_->size = 0;
    needReset_ = false;
    if (ret < 0 && ret != AVERROR(EAGAIN)) {
      NoteError("AAC decode: " + (g_lastAvMessage.empty() ? AvErr(ret) : g_lastAvMessage));
      // The decoder keeps going: its next good frame decodes normally. (Re-opening it after
      // every error was measured: ~0.1 ms per bad frame, p99 up to 8 ms from heap churn, and
      // a fragmented heap.)
    }
    while (!needReset_) {
      ret = avcodec_receive_frame(dec_, frame_);
      if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) break;
      if (ret < 0) {
        NoteError("AAC decode: " + (g_lastAvMessage.empty() ? AvErr(ret) : g_lastAvMessage));
        break;
      }
      ProcessFrame(frame_, ptsMs);
      av_frame_unref(frame_);
    }
    if (needReset_) ResetDecoder();
    EncodeAvailable();
  }

  void Flush() {
    if (closed_) return;
    DrainAll();
  }

  void SetVolume(double v) {
    if (!std::isfinite(v) || v < 0 || v > 200) {
      throw std::out_of_range("setVolume: percent must be between 0 and 200");
    }
    volume_ = v;
    targetGain_ = (float)(v / 100.0);
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    FreeAll();
  }

  Stats GetStats() const {
    Stats s;
    s.framesIn = framesIn_;
    s.packetsOut = packetsOut_;
    s.errors = errors_;
    s.resyncs = resyncs_;
    s.gapFills = gapFills_;
    s.decoderResets = decoderResets_;
    s.samplesIn = samplesIn_;
    s.inputSampleRate = lastInRate_;
    s.inputChannels = lastInChannels_;
    s.bufferedSamples = closed_ ? 0 : BufferedSamples();
    s.lastError = lastError_;
    return s;
  }

  Application GetApplication() const {
    return application_ == OPUS_APPLICATION_AUDIO  ? Application::kAudio
           : application_ == OPUS_APPLICATION_VOIP ? Application::kVoip
                                                   : Application::kLowDelay;
  }

  // ------------------------------------------------------------------ state
  AVCodecContext* dec_ = nullptr;
  AVPacket* pkt_ = nullptr;
  AVFrame* frame_ = nullptr;
  SwrContext* swr_ = nullptr;
  AVChannelLayout swrInLayout_{};
  int swrInRate_ = 0;
  AVSampleFormat swrInFmt_ = AV_SAMPLE_FMT_NONE;
  OpusEncoder* enc_ = nullptr;

  int bitrate_ = 64000;
  int channels_ = 2;
  int lookahead_ = 0;
  int application_ = 0;
  double volume_ = 100;
  float gain_ = 1.0f;
  float targetGain_ = 1.0f;

  std::vector<uint8_t> inBuf_;
  std::vector<uint8_t> silence_;
  std::vector<float> resampled_;
  std::vector<float> pcm_;  // interleaved 48 kHz float, pcm_[pcmStart_] has timestamp nextTs_
  size_t pcmStart_ = 0;
  std::vector<uint8_t> opusBuf_;
  std::vector<uint8_t> outBytes_;  // the produced packets' bytes, back to back
  std::vector<Packet> out_;        // one entry per produced packet

  bool anchored_ = false;
  int64_t nextTs_ = 0;
  double inClock_ = 0;
  double lastPtsMs_ = 0;
  double lastFrameDur48_ = 0;

  uint64_t framesIn_ = 0, packetsOut_ = 0, errors_ = 0, resyncs_ = 0, gapFills_ = 0, samplesIn_ = 0;
  int lastInRate_ = 0, lastInChannels_ = 0;
  std::string lastError_;
  bool closed_ = false;
  bool rejectPce_ = false;
  bool needReset_ = false;
  std::vector<uint8_t> asc_;
  int expectChannels_ = 0;  // from channelConfiguration; 0 = defined by a PCE, not checked
  int ascRate_ = 0;
  int ascExtRate_ = 0;
  uint64_t decoderResets_ = 0;
};

// ---------------------------------------------------------------------------------------------
AacOpus::AacOpus(Options options) {
  InstallAvLogCallback();
  impl_ = std::make_unique<Impl>(std::move(options));
}

AacOpus::~AacOpus() = default;

void AacOpus::Push(const uint8_t* data, size_t len, double ptsMs) { impl_->Push(data, len, ptsMs); }
void AacOpus::Flush() { impl_->Flush(); }
void AacOpus::SetVolume(double percent) { impl_->SetVolume(percent); }
void AacOpus::Close() { impl_->Close(); }

const std::vector<uint8_t>& AacOpus::PacketBytes() const { return impl_->outBytes_; }
const std::vector<AacOpus::Packet>& AacOpus::Packets() const { return impl_->out_; }

void AacOpus::ClearPackets() {
  impl_->out_.clear();
  impl_->outBytes_.clear();
}

void AacOpus::TakePackets(std::vector<uint8_t>* bytes, std::vector<Packet>* packets) {
  bytes->clear();
  packets->clear();
  bytes->swap(impl_->outBytes_);
  packets->swap(impl_->out_);
}

double AacOpus::volume() const { return impl_->volume_; }
uint64_t AacOpus::errors() const { return impl_->errors_; }
bool AacOpus::closed() const { return impl_->closed_; }
int AacOpus::lookahead() const { return impl_->lookahead_; }
int AacOpus::channels() const { return impl_->channels_; }
AacOpus::Application AacOpus::application() const { return impl_->GetApplication(); }
AacOpus::Stats AacOpus::stats() const { return impl_->GetStats(); }

}  // namespace roomgate
