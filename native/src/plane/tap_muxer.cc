// See tap_muxer.h.

#include "tap_muxer.h"

#include <cstring>
#include <stdexcept>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
}

namespace roomgate::plane {

namespace {

constexpr int kIoBufferSize = 32 * 1024;
constexpr uint8_t kStartCode[4] = {0, 0, 0, 1};
// Fragmented MP4: a fragment per keyframe, the moov (with no samples) up front, offsets from each moof. A file cut off
// (SIGKILL, power loss) then plays up to its last complete fragment, and Chromium's <video> plays it as it is.
constexpr const char* kMp4Flags = "frag_keyframe+empty_moov+default_base_moof";
// Without video there are no keyframes to cut fragments at: one a second instead (µs).
constexpr const char* kMp4AudioFragmentUs = "1000000";

void SetExtradata(AVCodecParameters* par, const uint8_t* data, size_t size) {
  par->extradata = (uint8_t*)av_mallocz(size + AV_INPUT_BUFFER_PADDING_SIZE);
  if (!par->extradata) throw std::runtime_error("out of memory");
  memcpy(par->extradata, data, size);
  par->extradata_size = (int)size;
}

// libavformat 61 made the write callback's buffer const.
#if LIBAVFORMAT_VERSION_MAJOR >= 61
using IoBuffer = const uint8_t*;
#else
using IoBuffer = uint8_t*;
#endif

}  // namespace

std::string AvError(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

void AppendNal(std::vector<uint8_t>& out, const uint8_t* nal, size_t len) {
  out.insert(out.end(), kStartCode, kStartCode + 4);
  out.insert(out.end(), nal, nal + len);
}

bool ParseAsc(const std::vector<uint8_t>& asc, int* rate, int* channels) {
  static const int kRates[13] = {96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350};
  size_t pos = 0;
  auto bits = [&](int n) {
    uint32_t v = 0;
    for (int i = 0; i < n; i++, pos++) {
      if (pos / 8 >= asc.size()) return UINT32_MAX;
      v = (v << 1) | ((asc[pos / 8] >> (7 - pos % 8)) & 1);
    }
    return v;
  };
  uint32_t aot = bits(5);
  if (aot == 31) aot = 32 + bits(6);
  uint32_t index = bits(4);
  uint32_t r = index == 15 ? bits(24) : index < 13 ? (uint32_t)kRates[index] : 0;
  uint32_t ch = bits(4);
  if (aot == UINT32_MAX || r == 0 || r == UINT32_MAX || ch == UINT32_MAX) return false;
  *rate = (int)r;
  *channels = ch == 0 ? 2 : ch == 7 ? 8 : (int)ch;  // 0: a PCE describes them (the decoder will); 7 is 7.1
  return true;
}

bool H264Dimensions(const uint8_t* annexB, size_t size, int* width, int* height) {
  AVCodecParserContext* parser = av_parser_init(AV_CODEC_ID_H264);
  AVCodecContext* codec = avcodec_alloc_context3(nullptr);
  bool ok = false;
  if (parser && codec) {
    parser->flags |= PARSER_FLAG_COMPLETE_FRAMES;  // the whole access unit at once: parsed now, not on the next call
    std::vector<uint8_t> padded(size + AV_INPUT_BUFFER_PADDING_SIZE, 0);  // the parser may read past the end
    memcpy(padded.data(), annexB, size);
    uint8_t* out = nullptr;
    int outSize = 0;
    av_parser_parse2(parser, codec, &out, &outSize, padded.data(), (int)size, AV_NOPTS_VALUE, AV_NOPTS_VALUE, 0);
    if (parser->width > 0 && parser->height > 0) {
      *width = parser->width;
      *height = parser->height;
      ok = true;
    }
  }
  if (parser) av_parser_close(parser);
  avcodec_free_context(&codec);
  return ok;
}

void CheckTapStreams(const TapStreams& s) {
  const std::string& f = s.format;
  if (f != "mpegts" && f != "matroska" && f != "mp4" && f != "adts" && f != "rtmp") {
    throw std::runtime_error("format must be 'mpegts', 'matroska', 'mp4', 'adts' or 'rtmp', not '" + f + "'");
  }
  if (!s.video && s.audio == TapStreams::kNoAudio) throw std::runtime_error("a tap needs video or audio");
  if (f == "adts" && (s.video || s.audio != TapStreams::kAac)) {
    throw std::runtime_error("format 'adts' holds AAC audio alone (no video, no Opus)");
  }
  if (f == "rtmp" && s.audio == TapStreams::kOpus) {
    throw std::runtime_error("format 'rtmp' carries AAC audio, not Opus (ask for 'opus-to-aac')");
  }
}

TapMuxer::TapMuxer(const TapStreams& streams, const ParamSets& sets, const std::vector<uint8_t>& asc, const Output& out) {
  CheckTapStreams(streams);
  if (streams.video && sets.sps.empty()) throw std::runtime_error("the pipe has no H.264 configuration (SPS/PPS) yet");
  int rate = 48000, channels = 2;
  if (streams.audio == TapStreams::kAac && !ParseAsc(asc, &rate, &channels)) {
    throw std::runtime_error(asc.empty() ? "the pipe has no AAC configuration yet" : "the pipe's AAC AudioSpecificConfig is malformed");
  }
  try {
    int r = avformat_alloc_output_context2(&ctx_, nullptr, streams.format.c_str(), nullptr);
    if (r < 0 || !ctx_) throw std::runtime_error("libavformat has no " + streams.format + " muxer: " + AvError(r));
    auto* buffer = (unsigned char*)av_malloc(kIoBufferSize);
    if (!buffer) throw std::runtime_error("out of memory");
    out_ = out;
    int (*write)(void*, IoBuffer, int) = [](void* self, IoBuffer buf, int size) {
      const Output& o = static_cast<TapMuxer*>(self)->out_;
      return o.write(o.opaque, buf, size);
    };
    int64_t (*seek)(void*, int64_t, int) = [](void* self, int64_t offset, int whence) {
      const Output& o = static_cast<TapMuxer*>(self)->out_;
      return o.seek(o.opaque, offset, whence);
    };
    io_ = avio_alloc_context(buffer, kIoBufferSize, 1, this, nullptr, write, out.seek ? seek : nullptr);
    if (!io_) {
      av_free(buffer);
      throw std::runtime_error("out of memory");
    }
    // Without a seek callback the muxers write for a stream (Matroska without cues, sizes unknown); with one (a file)
    // they go back to fill in sizes and write their index at the end.
    io_->seekable = out.seek ? AVIO_SEEKABLE_NORMAL : 0;
    ctx_->pb = io_;
    ctx_->flags |= AVFMT_FLAG_CUSTOM_IO;
    // A file takes the I/O buffer 32 KiB at a time rather than a write per frame; Cut() hands everything over at each
    // cut point (a fragment, a segment), which is what a reader after a crash needs. A stream's reader waits for
    // nobody: its bytes go with each frame (the tap's FlushIo).
    if (out.seek) ctx_->flush_packets = 0;
    packet_ = av_packet_alloc();
    if (!packet_) throw std::runtime_error("out of memory");

    if (streams.video) {
      AVStream* s = avformat_new_stream(ctx_, nullptr);
      if (!s) throw std::runtime_error("out of memory");
      s->time_base = {1, 1000};
      s->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
      s->codecpar->codec_id = AV_CODEC_ID_H264;
      s->codecpar->width = streams.width;
      s->codecpar->height = streams.height;
      std::vector<uint8_t> extra;  // Annex B: Matroska and MP4 turn it into avcC, MPEG-TS does not need it
      for (const auto* list : {&sets.sps, &sets.pps}) {
        for (const auto& set : *list) AppendNal(extra, set.data(), set.size());
      }
      SetExtradata(s->codecpar, extra.data(), extra.size());
      videoStream_ = s->index;
    }
    if (streams.audio != TapStreams::kNoAudio) {
      AVStream* s = avformat_new_stream(ctx_, nullptr);
      if (!s) throw std::runtime_error("out of memory");
      s->codecpar->codec_type = AVMEDIA_TYPE_AUDIO;
      s->codecpar->sample_rate = rate;
      av_channel_layout_default(&s->codecpar->ch_layout, channels);
      if (streams.audio == TapStreams::kAac) {
        s->time_base = {1, 1000};
        s->codecpar->codec_id = AV_CODEC_ID_AAC;
        s->codecpar->frame_size = 1024;
        SetExtradata(s->codecpar, asc.data(), asc.size());  // MPEG-TS and ADTS make each frame's ADTS header from it
      } else {
        s->time_base = {1, 48000};
        s->codecpar->codec_id = AV_CODEC_ID_OPUS;
        // OpusHead (RFC 7845 5.1): 2 channels, no pre-skip, 48 kHz, no gain, mapping family 0. Matroska and MP4 need it.
        const uint8_t head[19] = {'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 2, 0, 0, 0x80, 0xbb, 0, 0, 0, 0, 0};
        SetExtradata(s->codecpar, head, sizeof head);
      }
      audioStream_ = s->index;
    }
    AVDictionary* options = nullptr;
    if (streams.format == "mp4") {
      av_dict_set(&options, "movflags", kMp4Flags, 0);
      if (!streams.video) av_dict_set(&options, "frag_duration", kMp4AudioFragmentUs, 0);
    }
    if (streams.format == "mpegts" && !out.seek) {
      // A live reader (a relay's or the compositor's ffmpeg) gets each frame as it comes. By default the muxer
      // gathers audio frames into PES packets of 2930 bytes (about 160 ms of 128 kb/s AAC), and a reader that
      // interleaves holds every video frame back until audio as late as it has come; and it leaves video PES lengths
      // out, so a reader learns a frame is whole only when the next one starts (a frame interval later).
      av_dict_set(&options, "pes_payload_size", "0", 0);
      av_dict_set(&options, "omit_video_pes_length", "0", 0);
    }
    r = avformat_write_header(ctx_, &options);
    av_dict_free(&options);
    if (r < 0) throw std::runtime_error("the " + streams.format + " muxer refused the streams: " + AvError(r));
    avio_flush(io_);
  } catch (...) {
    Free();  // the destructor does not run for a constructor that throws
    throw;
  }
}

TapMuxer::~TapMuxer() { Free(); }

void TapMuxer::Free() {
  if (io_) {
    av_freep(&io_->buffer);
    avio_context_free(&io_);
  }
  if (ctx_) avformat_free_context(ctx_);
  ctx_ = nullptr;
  av_packet_free(&packet_);
}

std::string TapMuxer::Write(int stream, int64_t ts, int64_t duration, AVRational unit, const uint8_t* data, size_t size,
                            bool key) {
  if (finished_) return "the muxer is finished";
  AVStream* s = ctx_->streams[stream];
  int64_t t = av_rescale_q(ts, unit, s->time_base);
  int64_t* last = &last_[stream];
  // The muxers refuse a dts that does not rise; a repeated timestamp (a source's rounding) moves one tick on.
  if (*last != INT64_MIN && t <= *last) t = *last + 1;
  *last = t;
  packet_->data = const_cast<uint8_t*>(data);
  packet_->size = (int)size;
  packet_->stream_index = stream;
  packet_->pts = packet_->dts = t;
  packet_->duration = duration > 0 ? av_rescale_q(duration, unit, s->time_base) : 0;
  packet_->flags = key ? AV_PKT_FLAG_KEY : 0;
  int r = av_write_frame(ctx_, packet_);
  return r < 0 ? "muxer: " + AvError(r) : "";
}

void TapMuxer::FlushIo() {
  if (!finished_) avio_flush(io_);
}

void TapMuxer::Cut() {
  if (finished_) return;
  av_write_frame(ctx_, nullptr);  // muxers without AVFMT_ALLOW_FLUSH (ADTS) keep nothing back: a no-op for them
  avio_flush(io_);
}

void TapMuxer::Finish() {
  if (finished_) return;
  finished_ = true;
  av_write_trailer(ctx_);
  avio_flush(io_);
}

}  // namespace roomgate::plane
