// See tap.h. Runs under the plane's mutex, on the thread that handles the frame.

#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <stdexcept>

#include "../aac_opus_core.h"
#include "shared_limits.h"

extern "C" {
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
}

namespace roomgate::plane {

namespace {

/** Muxed bytes a tap keeps for a slow reader before it drops frames (shared-limits.json: tapQueueBytes). */
constexpr size_t kQueueMax = shared::kTapQueueBytes;
constexpr size_t kQueueSlack = 1 << 20;  // the frame that crosses the bound still goes in whole
constexpr int kIoBufferSize = 32 * 1024;
constexpr uint8_t kStartCode[4] = {0, 0, 0, 1};

std::string AvError(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

/** Sample rate and channel count of an AudioSpecificConfig (ISO 14496-3 1.6.2.1); the muxer's audio parameters. */
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

void SetExtradata(AVCodecParameters* par, const uint8_t* data, size_t size) {
  par->extradata = (uint8_t*)av_mallocz(size + AV_INPUT_BUFFER_PADDING_SIZE);
  if (!par->extradata) throw std::runtime_error("out of memory");
  memcpy(par->extradata, data, size);
  par->extradata_size = (int)size;
}

void AppendNal(std::vector<uint8_t>& out, const uint8_t* nal, size_t len) {
  out.insert(out.end(), kStartCode, kStartCode + 4);
  out.insert(out.end(), nal, nal + len);
}

// libavformat 61 made the write callback's buffer const.
#if LIBAVFORMAT_VERSION_MAJOR >= 61
using IoBuffer = const uint8_t*;
#else
using IoBuffer = uint8_t*;
#endif

}  // namespace

Tap::Tap(const TapOptions& options, const ParamSets& sets, const std::vector<uint8_t>& asc)
    : options_(options), waitKey_(options.video) {
  InstallAvLogCallback();  // libavformat's log stays quiet, like the transcoder's
  if (options_.format != "mpegts" && options_.format != "matroska") {
    throw std::runtime_error("format must be 'mpegts' or 'matroska', not '" + options_.format + "'");
  }
  if (!options_.video && options_.audio == TapOptions::kNoAudio) throw std::runtime_error("a tap needs video or audio");
  if (options_.video && sets.sps.empty()) throw std::runtime_error("the pipe has no H.264 configuration (SPS/PPS) yet");
  int rate = 48000, channels = 2;
  if (options_.audio == TapOptions::kAac && !ParseAsc(asc, &rate, &channels)) {
    throw std::runtime_error(asc.empty() ? "the pipe has no AAC configuration yet" : "the pipe's AAC AudioSpecificConfig is malformed");
  }
  struct stat st;
  if (fstat(options_.fd, &st) < 0) throw std::runtime_error("fd " + std::to_string(options_.fd) + " is not open: " + strerror(errno));
  socket_ = S_ISSOCK(st.st_mode);
  // Never block the plane: a full pipe or socket makes write() return EAGAIN and the bytes wait in the queue.
  int flags = fcntl(options_.fd, F_GETFL);
  if (flags < 0 || fcntl(options_.fd, F_SETFL, flags | O_NONBLOCK) < 0) throw std::runtime_error(std::string("fcntl: ") + strerror(errno));
  // Our own descriptor of the same file: if the caller's fd is closed first (Node closes a child's stdin when the
  // child exits), the tap writes to the file it was given, never to whatever reuses that number. Closed in Free().
  fd_ = fcntl(options_.fd, F_DUPFD_CLOEXEC, 3);
  if (fd_ < 0) throw std::runtime_error(std::string("dup: ") + strerror(errno));

  try {
    int r = avformat_alloc_output_context2(&ctx_, nullptr, options_.format.c_str(), nullptr);
    if (r < 0 || !ctx_) throw std::runtime_error("libavformat has no " + options_.format + " muxer: " + AvError(r));
    auto* buffer = (unsigned char*)av_malloc(kIoBufferSize);
    if (!buffer) throw std::runtime_error("out of memory");
    io_ = avio_alloc_context(buffer, kIoBufferSize, 1, this, nullptr,
                             [](void* opaque, IoBuffer buf, int size) { return OnMuxed(opaque, buf, size); }, nullptr);
    if (!io_) {
      av_free(buffer);
      throw std::runtime_error("out of memory");
    }
    ctx_->pb = io_;  // not seekable: the muxers write for a stream (Matroska without cues, sizes unknown)
    ctx_->flags |= AVFMT_FLAG_CUSTOM_IO;
    packet_ = av_packet_alloc();
    if (!packet_) throw std::runtime_error("out of memory");

    if (options_.video) {
      AVStream* s = avformat_new_stream(ctx_, nullptr);
      if (!s) throw std::runtime_error("out of memory");
      s->time_base = {1, 1000};
      s->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
      s->codecpar->codec_id = AV_CODEC_ID_H264;
      s->codecpar->width = options_.width;
      s->codecpar->height = options_.height;
      std::vector<uint8_t> extra;  // Annex B: Matroska turns it into avcC, MPEG-TS does not need it
      for (const auto* list : {&sets.sps, &sets.pps}) {
        for (const auto& set : *list) AppendNal(extra, set.data(), set.size());
      }
      SetExtradata(s->codecpar, extra.data(), extra.size());
      videoStream_ = s->index;
    }
    if (options_.audio != TapOptions::kNoAudio) {
      AVStream* s = avformat_new_stream(ctx_, nullptr);
      if (!s) throw std::runtime_error("out of memory");
      s->codecpar->codec_type = AVMEDIA_TYPE_AUDIO;
      s->codecpar->sample_rate = rate;
      av_channel_layout_default(&s->codecpar->ch_layout, channels);
      if (options_.audio == TapOptions::kAac) {
        s->time_base = {1, 1000};
        s->codecpar->codec_id = AV_CODEC_ID_AAC;
        s->codecpar->frame_size = 1024;
        SetExtradata(s->codecpar, asc.data(), asc.size());  // MPEG-TS wraps each raw frame in ADTS from it
      } else {
        s->time_base = {1, 48000};
        s->codecpar->codec_id = AV_CODEC_ID_OPUS;
        // OpusHead (RFC 7845 5.1): 2 channels, no pre-skip, 48 kHz, no gain, mapping family 0. Matroska needs it.
        const uint8_t head[19] = {'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 2, 0, 0, 0x80, 0xbb, 0, 0, 0, 0, 0};
        SetExtradata(s->codecpar, head, sizeof head);
      }
      audioStream_ = s->index;
    }
    r = avformat_write_header(ctx_, nullptr);
    if (r < 0) throw std::runtime_error("the " + options_.format + " muxer refused the streams: " + AvError(r));
    avio_flush(io_);
  } catch (...) {
    Free();  // the destructor does not run for a constructor that throws
    throw;
  }
}

Tap::~Tap() { Free(); }

void Tap::Free() {
  if (io_) {
    av_freep(&io_->buffer);
    avio_context_free(&io_);
  }
  if (ctx_) avformat_free_context(ctx_);
  ctx_ = nullptr;
  av_packet_free(&packet_);
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

bool Tap::Admit(bool keyframe) {
  Flush();  // bytes left over from the previous frames first
  if (failed_ || finished_) return false;
  bool full = Pending() >= kQueueMax;
  if (options_.video) {
    if (keyframe && !full) {
      waitKey_ = false;
      started_ = true;
      return true;
    }
    if (full) waitKey_ = true;
    if (!waitKey_) return true;
    if (started_) stats_.droppedFrames++;  // frames before the first keyframe are not drops: the file starts there
    return false;
  }
  if (!full) return true;
  stats_.droppedFrames++;
  return false;
}

void Tap::OnVideo(const uint8_t* const* nals, const uint32_t* lens, int count, double ms, bool keyframe, const ParamSets& sets) {
  if (videoStream_ < 0 || !Admit(keyframe)) return;
  annexB_.clear();
  if (keyframe) {
    bool inBand = false;  // a keyframe JavaScript pushed may carry its own SPS
    for (int i = 0; i < count; i++) inBand = inBand || (lens[i] > 0 && (nals[i][0] & 0x1f) == 7);
    if (!inBand) {
      for (const auto* list : {&sets.sps, &sets.pps}) {
        for (const auto& set : *list) AppendNal(annexB_, set.data(), set.size());
      }
    }
  }
  for (int i = 0; i < count; i++) AppendNal(annexB_, nals[i], lens[i]);
  Write(videoStream_, std::llround(ms), &lastVideo_, annexB_.data(), annexB_.size(), keyframe);
  stats_.videoFrames++;
}

void Tap::OnAac(const uint8_t* data, uint32_t len, double ms) {
  if (options_.audio != TapOptions::kAac || !Admit(false)) return;
  Write(audioStream_, std::llround(ms), &lastAudio_, data, len, true);
  stats_.audioFrames++;
}

void Tap::OnOpus(const uint8_t* data, uint32_t len, uint32_t ts48k) {
  if (options_.audio != TapOptions::kOpus) return;
  // Unwrapped here, before any drop, so a long gap of dropped frames cannot hide a wrap.
  opusTs_ = haveOpusTs_ ? opusTs_ + (int32_t)(ts48k - lastOpusRaw_) : (int64_t)ts48k;
  haveOpusTs_ = true;
  lastOpusRaw_ = ts48k;
  if (!Admit(false)) return;
  Write(audioStream_, opusTs_, &lastAudio_, data, len, true);
  stats_.audioFrames++;
}

void Tap::Write(int stream, int64_t ts, int64_t* last, const uint8_t* data, size_t size, bool keyframe) {
  AVStream* s = ctx_->streams[stream];
  AVRational from = options_.audio == TapOptions::kOpus && stream == audioStream_ ? AVRational{1, 48000} : AVRational{1, 1000};
  int64_t t = av_rescale_q(ts, from, s->time_base);
  // The muxers refuse a dts that does not rise; a repeated timestamp (a source's rounding) moves one tick on.
  if (*last != INT64_MIN && t <= *last) t = *last + 1;
  *last = t;
  packet_->data = const_cast<uint8_t*>(data);
  packet_->size = (int)size;
  packet_->stream_index = stream;
  packet_->pts = packet_->dts = t;
  packet_->duration = 0;
  packet_->flags = keyframe ? AV_PKT_FLAG_KEY : 0;
  int r = av_write_frame(ctx_, packet_);
  if (r < 0) stats_.lastError = "muxer: " + AvError(r);  // that frame is lost; the next may go
  avio_flush(io_);  // a frame's bytes reach the fd now, not when 32 KiB have gathered
}

int Tap::OnMuxed(void* opaque, const uint8_t* buf, int size) {
  auto* self = static_cast<Tap*>(opaque);
  if (self->failed_ || size <= 0) return size;
  size_t done = self->Pending() == 0 ? self->WriteSome(buf, (size_t)size) : 0;  // no copy when the fd keeps up
  if (!self->failed_ && done < (size_t)size) {
    // Room for the whole bound at once: growing by doubling would copy megabytes inside one frame's call.
    if (self->queue_.capacity() < kQueueMax) self->queue_.reserve(kQueueMax + kQueueSlack);
    self->queue_.insert(self->queue_.end(), buf + done, buf + size);
  }
  return size;  // whatever the fd does, the muxer carries on
}

size_t Tap::WriteSome(const uint8_t* buf, size_t size) {
  size_t done = 0;
  while (done < size) {
    // A socket whose peer has gone would raise SIGPIPE: MSG_NOSIGNAL. For a pipe, Node ignores SIGPIPE (it sets
    // SIG_IGN at start-up), so write() fails with EPIPE instead.
    ssize_t n = socket_ ? send(fd_, buf + done, size - done, MSG_NOSIGNAL | MSG_DONTWAIT) : write(fd_, buf + done, size - done);
    if (n > 0) {
      done += (size_t)n;
      stats_.bytesWritten += (uint64_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) Fail(strerror(errno));
    break;
  }
  return done;
}

void Tap::Flush() {
  if (failed_ || Pending() == 0) return;
  head_ += WriteSome(queue_.data() + head_, Pending());
  if (head_ == queue_.size()) {
    // Caught up: give the reservation back (only pages the backlog touched were ever resident).
    std::vector<uint8_t>().swap(queue_);
    head_ = 0;
  } else if (head_ >= queue_.size() / 2) {
    queue_.erase(queue_.begin(), queue_.begin() + (long)head_);  // amortised: the front is at least half
    head_ = 0;
  }
}

void Tap::Fail(const std::string& why) {
  // The reader is gone (EPIPE, ECONNRESET, …): stop for good; what was queued is lost.
  failed_ = true;
  stats_.lastError = why;
  lost_ += Pending();
  std::vector<uint8_t>().swap(queue_);
  head_ = 0;
}

uint64_t Tap::Finish() {
  if (!finished_ && ctx_) {
    finished_ = true;
    if (!failed_) {
      av_write_trailer(ctx_);
      avio_flush(io_);
      Flush();
    }
  }
  return Pending() + lost_;
}

const TapStats& Tap::stats() {
  stats_.pendingBytes = Pending();
  return stats_;
}

}  // namespace roomgate::plane
