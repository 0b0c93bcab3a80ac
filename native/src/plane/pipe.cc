// See pipe.h. Runs with the plane's mutex held: on the plane's thread for socket input, on the JavaScript thread
// for configuration and the frames JavaScript parsed.

#include "pipe.h"

#include <errno.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "../aac_opus_core.h"
#include "flv_fast.h"
#include "flv_tags.h"
#include "shared_limits.h"

namespace roomgate::plane {

namespace {

constexpr uint8_t kTypeAudio = 8;
constexpr uint8_t kTypeVideo = 9;
constexpr uint8_t kTypeAmf3Command = 17;
constexpr uint8_t kTypeAmf0Command = 20;
/** A GOP bigger than this is not cached (late viewers then wait for the next IDR). */
constexpr uint32_t kGopCacheMaxPackets = shared::kGopCacheMaxPackets;
constexpr uint32_t kMaxPayload = shared::kRtpMaxPayload;
constexpr double kDecoderErrorReportMs = shared::kDecoderErrorReportMs;
constexpr size_t kReadSize = 64 * 1024;

thread_local uint8_t t_read[kReadSize];

uint16_t RandomSeq() { return (uint16_t)(random() & 0xffff); }

}  // namespace

Pipe::Pipe(uint32_t id, const AudioOptions& audio, EventSink* events)
    : id_(id), audioOptions_(audio), events_(events), videoSeq_(RandomSeq()), audioSeq_(RandomSeq()) {}

void Pipe::AttachSocket(int fd, const ChunkLimits& limits, uint32_t chunkSize, const std::vector<ChunkStreamState>& streams) {
  fd_ = fd;
  reader_ = std::make_unique<ChunkReader>(limits, chunkSize, streams);
  status_ = kReading;
}

Pipe::Status Pipe::AttachFlv(int fd, uint32_t maxTagSize, double base, double firstTs, const uint8_t* leftover, size_t n,
                             double now) {
  fd_ = fd;
  reader_ = std::make_unique<FlvTagReader>(maxTagSize);
  rebase_ = {true, base, firstTs};
  eofText_ = "end of input";
  counters_.lastInputAt = now;
  counters_.lastSourceTs = -1;  // this run's tags only
  pending_.clear();
  status_ = kReading;
  now_ = now;
  if (n > 0) Consume(leftover, n);
  return status_;
}

void Pipe::DetachInput() {
  fd_ = -1;
  reader_.reset();
  rtpIn_.reset();
  heldFrames_.clear();
  rtpWait_ = false;
  pending_.clear();
  rebase_ = {};
  if (status_ != kEnded) status_ = kPaused;
}

Pipe::~Pipe() = default;

void Pipe::Post(Event::Kind kind, std::string text, double number) {
  Event e{kind, id_};
  e.text = std::move(text);
  e.number = number;
  events_->Post(std::move(e));
}

Pipe::Status Pipe::OnReadable(double now) {
  if (rtpIn_) return ReadDatagrams(now);
  // Drain the socket: edge-triggered readiness is reported once per arrival.
  while (status_ == kReading) {
    ssize_t n = read(fd_, t_read, kReadSize);
    if (n > 0) {
      now_ = now;
      counters_.lastInputAt = now;
      Consume(t_read, (size_t)n);
      if ((size_t)n < kReadSize) break;
      continue;
    }
    if (n == 0) {
      status_ = kEnded;
      Post(Event::kEnded, eofText_);
    } else if (errno == EINTR) {
      continue;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      status_ = kEnded;
      Post(Event::kEnded, std::string("socket error: ") + strerror(errno));
    }
    break;
  }
  return status_;
}

Pipe::Status Pipe::Resume(double now) {
  if (status_ != kPaused || !reader_) return status_;
  status_ = kReading;
  std::vector<uint8_t> held;
  held.swap(pending_);
  now_ = now;
  Consume(held.data(), held.size());
  return status_;
}

Pipe::Status Pipe::Consume(const uint8_t* data, size_t len) {
  std::string error;
  size_t used = reader_->Feed(data, len, &Pipe::OnMessage, this, &error);
  if (!error.empty()) {
    status_ = kEnded;
    Post(Event::kProtocolError, error);
    return status_;
  }
  if (status_ == kPaused && used < len) pending_.insert(pending_.end(), data + used, data + len);
  return status_;
}

bool Pipe::OnMessage(void* ctx, const RtmpMessage& m) {
  Pipe* p = static_cast<Pipe*>(ctx);
  if (!p->rebase_.on || (m.type != kTypeAudio && m.type != kTypeVideo)) return p->Handle(m);
  // a pull task's run: its clock continues the task's (pull-task.ts did this in JavaScript before the hand-over)
  RtmpMessage out = m;
  double ts = p->rebase_.base + std::max(0.0, (double)m.timestamp - p->rebase_.firstTs);
  out.timestamp = (uint32_t)ts;
  p->counters_.lastSourceTs = m.timestamp;
  p->counters_.lastOutTs = std::max(p->counters_.lastOutTs, ts);
  return p->Handle(out);
}

bool Pipe::Handle(const RtmpMessage& m) {
  if (status_ == kEnded) return false;
  if (m.type == kTypeVideo && naluLengthSize_ > 0) {
    VideoScan scan = ScanVideoTag(m.data, m.length, naluLengthSize_);
    if (scan.fast) {
      const uint8_t* nals[kMaxNals];
      for (int i = 0; i < scan.count; i++) nals[i] = m.data + scan.offset[i];
      VideoUnit(nals, scan.length, scan.count, m.timestamp, scan.keyframe);
      return true;
    }
  } else if (m.type == kTypeAudio && IsAacFrame(m.data, m.length)) {
    // Before the AAC sequence header JavaScript would skip it too; after one the transcoder (or its absence, when
    // the decoder refused the config) decides.
    if (audioConfigured_) {
      CountAudio(m.length - 2);
      AacFrame(m.data + 2, m.length - 2, m.timestamp);
    }
    return true;
  }
  if (m.type == kTypeAudio || m.type == kTypeVideo) {
    Event e{Event::kMedia, id_, m.type, m.timestamp};
    e.body.assign(m.data, m.data + m.length);
    events_->Post(std::move(e));
    status_ = kPaused;
    return false;
  }
  if (m.type == kTypeAmf0Command || m.type == kTypeAmf3Command) {
    Event e{Event::kMessage, id_, m.type, m.timestamp};
    e.body.assign(m.data, m.data + m.length);
    events_->Post(std::move(e));
  }
  // Protocol control (the reader applied SetChunkSize), user control, metadata: nothing to do.
  return true;
}

void Pipe::SetVideoConfig(int naluLengthSize, ParamSets sets) {
  naluLengthSize_ = naluLengthSize;
  sets_ = std::move(sets);
}

std::string Pipe::SetAudioConfig(const std::vector<uint8_t>& asc, double volume) {
  transcoder_.reset();
  audioConfigured_ = true;
  asc_ = asc;
  for (Tap* t : taps_) t->OnAudioConfig(asc_);
  reportedErrors_ = 0;
  try {
    AacOpus::Options o;
    o.asc = asc;
    o.bitrate = audioOptions_.bitrate;
    o.complexity = audioOptions_.complexity;
    o.volume = volume;
    transcoder_ = std::make_unique<AacOpus>(o);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

void Pipe::ClearAudioConfig() {
  transcoder_.reset();
  audioConfigured_ = false;
  asc_.clear();
}

void Pipe::SetVolume(double percent) {
  if (transcoder_) transcoder_->SetVolume(percent);
}

void Pipe::SetBlocked(bool audio, bool video) {
  if (video && !blockVideo_) {
    gop_.clear();
    gopPackets_ = 0;
  }
  if (!video && blockVideo_) videoNeedsKey_ = true;
  blockAudio_ = audio;
  blockVideo_ = video;
}

void Pipe::PushVideo(const uint8_t* const* nals, const uint32_t* lens, int count, double ptsMs, bool keyframe, double now) {
  now_ = now;
  VideoUnit(nals, lens, count, ptsMs, keyframe);
}

void Pipe::PushAac(const uint8_t* data, uint32_t len, double dtsMs, double now) {
  now_ = now;
  CountAudio(len);
  AacFrame(data, len, dtsMs);
}

void Pipe::AacFrame(const uint8_t* data, uint32_t len, double dtsMs) {
  if (blockAudio_) return;  // counted by the caller; reaches no tap and no sink
  for (Tap* t : taps_) t->OnAac(data, len, dtsMs);
  Transcode(data, len, dtsMs);  // which skips the work when no sink listens; taps have had the frame
}

void Pipe::PushOpus(const uint8_t* data, uint32_t len, uint32_t timestamp, double now) {
  now_ = now;
  CountAudio(len);
  if (blockAudio_) return;
  for (Tap* t : taps_) t->OnOpus(data, len, timestamp);  // the source's Opus only, not what Transcode makes
  EmitOpus(data, len, timestamp);
}

void Pipe::CountAudio(uint32_t len) {
  counters_.audioFrames++;
  counters_.audioBytes += len;
  if (!sawAudio_) {
    sawAudio_ = true;
    Post(Event::kFirstAudio);
  }
}

void Pipe::CountVideo(bool keyframe, double dtsMs, const uint8_t* const* nals, const uint32_t* lens, int count) {
  counters_.videoFrames++;
  for (int i = 0; i < count; i++) counters_.videoBytes += lens[i];
  if (!sawVideo_) {
    sawVideo_ = true;
    Post(Event::kFirstVideo);
  }
  if (!keyframe) return;
  counters_.keyframes++;
  if (counters_.lastKeyDts >= 0) counters_.maxGopMs = std::max(counters_.maxGopMs, dtsMs - counters_.lastKeyDts);
  counters_.lastKeyDts = dtsMs;
}

void Pipe::VideoUnit(const uint8_t* const* nals, const uint32_t* lens, int count, double dtsMs, bool keyframe) {
  if (naluLengthSize_ == 0) return;
  if (blockVideo_ || (videoNeedsKey_ && !keyframe)) {
    CountVideo(keyframe, dtsMs, nals, lens, count);  // taken in (the idle watch sees a live publisher), sent nowhere
    return;
  }
  videoNeedsKey_ = false;
  auto unit = std::make_shared<Unit>();
  // Sized once: growing the vectors packet by packet reallocated and copied what was packetized so far each time.
  size_t bytes = 0, packets = 0;
  for (int i = 0; i < count; i++) {
    bytes += lens[i] + 2 * (lens[i] / (kMaxPayload - 2) + 1);  // FU-A headers, at most
    packets += lens[i] / (kMaxPayload - 2) + 1;
  }
  if (keyframe) {
    for (const auto* list : {&sets_.sps, &sets_.pps}) {
      for (const auto& set : *list) bytes += set.size() + 4, packets++;
    }
    bytes += 1;  // STAP-A header
  }
  unit->bytes.reserve(bytes);
  unit->ends.reserve(packets);
  PacketizeH264(nals, lens, count, keyframe, sets_, kMaxPayload, unit->bytes, unit->ends);
  if (unit->ends.empty()) return;
  for (Tap* t : taps_) t->OnVideo(nals, lens, count, dtsMs, keyframe, sets_);
  unit->keyframe = keyframe;
  unit->timestamp = (uint32_t)(int64_t)std::llround((double)dtsMs * 90.0);
  unit->firstSeq = videoSeq_;
  unit->receivedAt = now_;
  videoSeq_ = (uint16_t)(videoSeq_ + unit->count());

  CountVideo(keyframe, dtsMs, nals, lens, count);
  UnitPtr shared = unit;
  if (keyframe) {
    gop_.clear();
    gop_.push_back(shared);
    gopPackets_ = shared->count();
  } else if (!gop_.empty()) {
    gopPackets_ += shared->count();
    if (gopPackets_ > kGopCacheMaxPackets) gop_.clear();
    else gop_.push_back(shared);
  }
  for (Sink* s : videoSinks_) s->OnVideo(shared, now_);
}

void Pipe::Transcode(const uint8_t* data, uint32_t len, double dtsMs) {
  // Nobody listens: decoding and encoding would be wasted (most of an idle publisher's cost). The transcoder
  // resyncs its timeline to the source clock when frames come again.
  if (!transcoder_ || audioSinks_.empty()) return;
  transcoder_->Push(data, len, dtsMs);
  const std::vector<uint8_t>& bytes = transcoder_->PacketBytes();
  const std::vector<AacOpus::Packet>& packets = transcoder_->Packets();
  size_t offset = 0;
  for (const AacOpus::Packet& packet : packets) {
    EmitOpus(bytes.data() + offset, (uint32_t)packet.size, (uint32_t)packet.timestamp);
    offset += packet.size;
  }
  size_t n = packets.size();
  transcoder_->ClearPackets();
  uint32_t errors = (uint32_t)transcoder_->errors();
  if (n == 0 && errors != reportedErrors_ && now_ - lastErrorReport_ >= kDecoderErrorReportMs) {
    Post(Event::kDecoderErrors, transcoder_->stats().lastError, errors - reportedErrors_);
    reportedErrors_ = errors;
    lastErrorReport_ = now_;
  }
}

void Pipe::EmitOpus(const uint8_t* data, uint32_t len, uint32_t timestamp) {
  auto unit = std::make_shared<Unit>();
  unit->bytes.assign(data, data + len);
  unit->ends.push_back(len);
  unit->timestamp = timestamp;
  unit->firstSeq = audioSeq_++;
  unit->receivedAt = now_;
  UnitPtr shared = unit;
  for (Sink* s : audioSinks_) s->OnAudio(shared, now_);
}

void Pipe::AddSink(Sink* sink, bool video) { (video ? videoSinks_ : audioSinks_).push_back(sink); }

void Pipe::RemoveSink(Sink* sink) {
  for (auto* list : {&videoSinks_, &audioSinks_}) {
    for (size_t i = 0; i < list->size(); i++) {
      if ((*list)[i] == sink) {
        list->erase(list->begin() + (long)i);
        break;
      }
    }
  }
}

void Pipe::RemoveTap(Tap* tap) {
  for (size_t i = 0; i < taps_.size(); i++) {
    if (taps_[i] == tap) {
      taps_.erase(taps_.begin() + (long)i);
      break;
    }
  }
}

}  // namespace roomgate::plane
