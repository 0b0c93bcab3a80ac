// See rtp_in.h. Runs with the plane's mutex held, on the engine's thread (socket) or JavaScript's (pushSrtp).

#include "rtp_in.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace roomgate::plane {

namespace {

/** Sequence distance beyond which a packet starts a new numbering (src/media/rtp-reorder.ts MAX_JUMP). */
constexpr uint16_t kMaxJump = 1000;
/** How long packets wait behind a hole for it to be filled (rtp-reorder.ts maxWaitMs). */
constexpr double kMaxWaitMs = 120;
/** NACK timing (nack-requester.ts): again every 40 ms while missing, three times at most; a bigger jump is a restart. */
constexpr double kNackRetryMs = 40;
constexpr int kNackSends = 3;
constexpr uint16_t kNackMaxGap = 500;
/** RFC 3550 Appendix A.1: a step forwards below MAX_DROPOUT is in order, one back within MAX_MISORDER reordered. */
constexpr uint16_t kMaxDropout = 3000;
constexpr uint16_t kMaxMisorder = 100;
/** Holes followed at once per SSRC, and SSRCs followed: bounds what a hostile sender can make us keep. */
constexpr size_t kMaxHoles = 1000;
constexpr size_t kMaxSources = 8;

/** An access unit larger than this is a sender that never ends its frames: dropped, and the next IDR awaited. */
constexpr size_t kMaxUnitBytes = 8 << 20;

constexpr int kStapA = 24;
constexpr int kFuA = 28;
constexpr int kNalIdr = 5;
constexpr int kNalAud = 9;
constexpr int kNalFiller = 12;

uint16_t Be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
uint32_t Be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

}  // namespace

struct RtpIn::Source {
  uint32_t ssrc;
  bool video;
  double rate;
  // RFC 3550 Appendix A.1 / A.8
  bool init = false;
  int32_t badSeq = -1;  // the sequence number that confirms a jump
  uint16_t maxSeq = 0;
  uint32_t cycles = 0, baseSeq = 0, received = 0, expectedPrior = 0, receivedPrior = 0;
  bool haveTransit = false;
  double transit = 0, jitter = 0;
  // NACKs (video)
  struct Hole {
    int sends = 0;
    double lastSent = 0;
  };
  bool nackInit = false;
  uint16_t highest = 0;
  std::map<uint16_t, Hole> missing;
};

RtpIn::RtpIn(const RtpInConfig& c, RtpOutput* out) : out_(out), clockStart_(c.clockStart) {
  srtp_ = std::make_unique<SrtpProtector>(c.profile, c.key.data(), c.key.size(), c.salt.data(), c.salt.size());
  for (uint8_t pt : c.videoPayloadTypes) videoPt_[pt & 0x7f] = true;
  for (uint8_t pt : c.audioPayloadTypes) audioPt_[pt & 0x7f] = true;
}

RtpIn::~RtpIn() = default;

void RtpIn::OnDatagram(uint8_t* data, int len, const sockaddr_storage* from, double now) {
  if (len < 1) return;
  // RFC 7983's demultiplexing by the first byte; RTCP (RFC 5761) by its packet type 192–223 in the second.
  if (data[0] >= 128 && data[0] <= 191 && len >= 2 && !(data[1] >= 192 && data[1] <= 223)) {
    OnRtp(data, len, now);
    return;
  }
  if (from) out_->OnRtpDatagram(data, (size_t)len, *from);  // STUN, DTLS, SRTCP, and anything else werift rules on
}

void RtpIn::OnRtp(uint8_t* data, int len, double now) {
  int n = srtp_->Unprotect(data, len);
  if (n < 12) {
    counters_.rejected++;
    return;
  }
  const int cc = data[0] & 0x0f;
  const bool extension = data[0] & 0x10, padding = data[0] & 0x20, marker = data[1] & 0x80;
  const uint8_t pt = data[1] & 0x7f;
  const uint16_t seq = Be16(data + 2);
  const uint32_t ts = Be32(data + 4), ssrc = Be32(data + 8);
  size_t off = 12 + 4 * (size_t)cc, end = (size_t)n;
  if (extension) {
    if (off + 4 > end) return void(counters_.rejected++);
    off += 4 + 4 * (size_t)Be16(data + off + 2);
  }
  if (off > end) return void(counters_.rejected++);
  if (padding) {
    uint8_t pad = data[end - 1];
    if (pad == 0 || pad > end - off) return void(counters_.rejected++);
    end -= pad;
  }
  const bool video = videoPt_[pt];
  if (!video && !audioPt_[pt]) return void(counters_.unknownPayload++);
  counters_.packets++;
  counters_.bytes += (uint64_t)n;
  counters_.lastRtpAt = now;

  Source& s = SourceOf(ssrc, video);
  if (CountForReport(s, seq)) {
    s.received++;
    double transit = now * s.rate / 1000 - ts;
    if (s.haveTransit) {
      double d = std::fabs(transit - s.transit);
      if (d < s.rate * 10) s.jitter += (d - s.jitter) / 16;  // not across a timestamp wrap
    }
    s.haveTransit = true;
    s.transit = transit;
  }

  if (video) {
    TrackNacks(s, seq, now);
    Reorder(seq, ts, marker, data + off, end - off, now);
  } else if (end > off) {
    double ms = ToMs(audioClock_, ts, now, clockStart_);
    out_->OnRtpOpus(data + off, uint32_t(end - off), (uint32_t)(int64_t)std::llround(ms * 48));
  }
}

bool RtpIn::CountForReport(Source& s, uint16_t seq) {
  if (!s.init) {
    s.init = true;
    s.baseSeq = s.maxSeq = seq;
    return true;
  }
  uint16_t ahead = uint16_t(seq - s.maxSeq);
  if (ahead < kMaxDropout) {
    if (seq < s.maxSeq) s.cycles += 65536;
    s.maxSeq = seq;
  } else if (ahead <= 65536 - kMaxMisorder) {
    // A jump: the sender restarted its numbering once a packet with the next number comes. One packet alone (a
    // retransmission that came very late, a stray from before) would otherwise reset every count of the report.
    if (s.badSeq != (int32_t)seq) {
      s.badSeq = uint16_t(seq + 1);
      return false;
    }
    s.baseSeq = s.maxSeq = seq;
    s.cycles = s.received = s.expectedPrior = s.receivedPrior = 0;
    s.badSeq = -1;
  }  // else a duplicate or a reordered packet
  return true;
}

RtpIn::Source& RtpIn::SourceOf(uint32_t ssrc, bool video) {
  for (auto& s : sources_) {
    if (s->ssrc == ssrc && s->video == video) return *s;
  }
  if (sources_.size() >= kMaxSources) sources_.erase(sources_.begin());
  auto s = std::make_unique<Source>();
  s->ssrc = ssrc;
  s->video = video;
  s->rate = video ? 90000 : 48000;
  sources_.push_back(std::move(s));
  return *sources_.back();
}

void RtpIn::TrackNacks(Source& s, uint16_t seq, double now) {
  if (!s.nackInit) {
    s.nackInit = true;
    s.highest = seq;
    return;
  }
  uint16_t ahead = uint16_t(seq - s.highest);
  if (ahead == 0) return;
  if (ahead >= 0x8000 && uint16_t(s.highest - seq) <= kNackMaxGap) {
    if (s.missing.erase(seq)) counters_.recovered++;  // a reordered or retransmitted packet
  } else {
    uint16_t from = uint16_t(s.highest + 1);
    s.highest = seq;
    if (ahead > kNackMaxGap) {
      // A restarted numbering: forwards, or further behind than a retransmission comes (nack-requester.ts took
      // that for a late packet, and followed no hole of the new numbering until it passed the old highest).
      s.missing.clear();
    } else {
      for (uint16_t m = from; m != seq; m++) {
        if (s.missing.size() < kMaxHoles) s.missing[m] = {};
        counters_.nacked++;
      }
    }
  }
  if (s.missing.empty()) return;
  // Holes due now: new ones, and those asked for kNackRetryMs ago with sends left. Retries wait for the next packet:
  // a publisher that sends nothing has nothing to resend either.
  std::vector<uint16_t> due;
  for (auto it = s.missing.begin(); it != s.missing.end();) {
    auto& h = it->second;
    if (h.sends > 0 && now - h.lastSent < kNackRetryMs) {
      ++it;
    } else if (h.sends >= kNackSends) {
      it = s.missing.erase(it);
    } else {
      h.sends++;
      h.lastSent = now;
      due.push_back(it->first);
      ++it;
    }
  }
  if (!due.empty()) out_->OnRtpNack(s.ssrc, due);
}

void RtpIn::Reorder(uint16_t seq, uint32_t ts, bool marker, const uint8_t* payload, size_t len, double now) {
  if (next_ < 0) next_ = seq;
  uint16_t ahead = uint16_t(seq - next_);
  if (ahead >= 0x8000) {
    // Behind what was released: a duplicate, or a retransmission after the wait was given up.
    if (0x10000 - ahead > kMaxJump) return Restart(seq, ts, marker, payload, len, now);
    counters_.tooLate++;
    return;
  }
  if (ahead > kMaxJump) return Restart(seq, ts, marker, payload, len, now);
  if (ahead > 0) {
    if (held_.empty()) holeSince_ = now;
    held_[seq] = Held{seq, ts, marker, now, std::vector<uint8_t>(payload, payload + len)};
    if (now - holeSince_ > kMaxWaitMs) SkipHole(now);
    return;
  }
  Depacketize(seq, ts, marker, payload, len, now);
  next_ = uint16_t(seq + 1);
  Drain(now);
  if (!held_.empty()) holeSince_ = now;  // the next hole starts waiting now
}

void RtpIn::SkipHole(double now) {
  while (!held_.empty() && !held_.count(uint16_t(next_))) {
    next_ = uint16_t(next_ + 1);
    counters_.gaveUp++;
  }
  Drain(now);
  if (!held_.empty()) holeSince_ = now;
}

void RtpIn::Drain(double now) {
  for (auto it = held_.find(uint16_t(next_)); it != held_.end(); it = held_.find(uint16_t(next_))) {
    Held h = std::move(it->second);
    held_.erase(it);
    Depacketize(h.seq, h.timestamp, h.marker, h.payload.data(), h.payload.size(), now);
    next_ = uint16_t(next_ + 1);
  }
}

void RtpIn::Restart(uint16_t seq, uint32_t ts, bool marker, const uint8_t* payload, size_t len, double now) {
  // A new numbering: what was held goes out in its own order, then this packet starts the new sequence.
  std::vector<Held> out;
  for (auto& [k, h] : held_) out.push_back(std::move(h));
  held_.clear();
  const uint16_t from = uint16_t(next_);
  std::sort(out.begin(), out.end(), [from](const Held& a, const Held& b) { return uint16_t(a.seq - from) < uint16_t(b.seq - from); });
  for (Held& h : out) Depacketize(h.seq, h.timestamp, h.marker, h.payload.data(), h.payload.size(), now);
  Depacketize(seq, ts, marker, payload, len, now);
  next_ = uint16_t(seq + 1);
}

void RtpIn::Depacketize(uint16_t seq, uint32_t ts, bool marker, const uint8_t* p, size_t len, double arrival) {
  if (lastSeq_ >= 0 && seq != uint16_t(lastSeq_ + 1)) {
    uint16_t gap = uint16_t(seq - lastSeq_ - 1);
    // Behind: a late duplicate or a reordered packet from before; but further behind than any reordering, a numbering
    // restarted backwards (Reorder has taken it for one), which is a gap like a jump forwards.
    if (gap > 0x8000 && uint16_t(lastSeq_ - seq) < kMaxJump) return;
    // The unit in progress and everything up to the next IDR would decode to garbage; after a loss (not a new
    // numbering, which loses nothing) so would what is left of the picture this packet belongs to, whichever of its
    // packets were lost: an IDR picture missing a slice, or its parameter sets, must not pass for a keyframe.
    ResetUnit();
    broken_ = true;
    if (gap <= kMaxJump) spoiledTs_ = ts;
    out_->OnRtpKeyframeWanted();
  }
  lastSeq_ = seq;
  if (spoiledTs_ >= 0) {
    if (spoiledTs_ == (int64_t)ts) return void(unitTs_ = ts);
    spoiledTs_ = -1;
  }
  if (unitTs_ != (int64_t)ts && !nals_.empty()) Finish(arrival);
  unitTs_ = ts;
  if (len < 1) return;
  const int type = p[0] & 0x1f;
  auto add = [&](const uint8_t* nal, size_t n) {
    if (fuStart_ >= 0) unit_.resize((size_t)fuStart_), fuStart_ = -1;  // a fragmented unit cut short
    if (nals_.size() >= kMaxRtpUnitNals) return;
    nals_.push_back({(uint32_t)unit_.size(), (uint32_t)n});
    unit_.insert(unit_.end(), nal, nal + n);
  };
  if (type == kStapA) {
    for (size_t o = 1; o + 2 <= len;) {
      size_t size = Be16(p + o);
      o += 2;
      if (size == 0 || o + size > len) break;
      add(p + o, size);
      o += size;
    }
  } else if (type == kFuA) {
    if (len >= 3) {
      const bool start = p[1] & 0x80, end = p[1] & 0x40;
      if (start) {
        if (fuStart_ >= 0) unit_.resize((size_t)fuStart_);
        fuStart_ = (int64_t)unit_.size();
        unit_.push_back(uint8_t((p[0] & 0xe0) | (p[1] & 0x1f)));
      }
      if (fuStart_ >= 0) {  // else a fragment without its start: lost
        unit_.insert(unit_.end(), p + 2, p + len);
        if (end) {
          if (nals_.size() < kMaxRtpUnitNals) nals_.push_back({(uint32_t)fuStart_, (uint32_t)(unit_.size() - (size_t)fuStart_)});
          fuStart_ = -1;
        }
      }
    }
  } else if (type >= 1 && type <= 23) {
    add(p, len);
  }
  // 25–27 (STAP-B, MTAP) belong to packetization-mode 2, never negotiated; 0 and 29–31 are invalid.
  if (unit_.size() > kMaxUnitBytes) {
    ResetUnit();
    broken_ = true;
    out_->OnRtpKeyframeWanted();
    return;
  }
  if (marker) Finish(arrival);
}

void RtpIn::Finish(double arrival) {
  if (fuStart_ >= 0) unit_.resize((size_t)fuStart_), fuStart_ = -1;
  bool keyframe = false;
  const uint8_t* ptrs[kMaxRtpUnitNals];
  uint32_t lens[kMaxRtpUnitNals];
  int count = 0;
  for (auto [offset, n] : nals_) {
    const int t = unit_[offset] & 0x1f;
    if (t == kNalIdr) keyframe = true;
    if (t == kNalAud || t == kNalFiller) continue;  // nothing a WebRTC receiver needs
    ptrs[count] = unit_.data() + offset;
    lens[count++] = n;
  }
  const bool any = !nals_.empty();
  if (any && !(broken_ && !keyframe)) {
    broken_ = false;
    if (count > 0) out_->OnRtpVideo(ptrs, lens, count, ToMs(videoClock_, (uint32_t)unitTs_, arrival, clockStart_), keyframe);
  }
  ResetUnit();
}

void RtpIn::ResetUnit() {
  unit_.clear();
  nals_.clear();
  fuStart_ = -1;
}

double RtpIn::ToMs(Clock& c, uint32_t timestamp, double arrival, double start) {
  if (!c.set) {
    c.set = true;
    c.base = timestamp;
    c.last = timestamp;
    c.baseMs = arrival - start;
  }
  // Unwrap the 32-bit counter; a small step backwards is reordering, not a wrap.
  if (timestamp < c.last && c.last - timestamp > 0x80000000u) c.wraps++;
  else if (timestamp > c.last && timestamp - c.last > 0x80000000u) c.wraps--;
  c.last = timestamp;
  double unwrapped = (double)timestamp + (double)c.wraps * 4294967296.0;
  return c.baseMs + (unwrapped - c.base) * 1000.0 / c.rate;
}

std::vector<RtpSourceReport> RtpIn::Report(bool advance) {
  std::vector<RtpSourceReport> out;
  for (auto& sp : sources_) {
    Source& s = *sp;
    if (!s.init) continue;
    RtpSourceReport r;
    r.ssrc = s.ssrc;
    r.video = s.video;
    r.received = s.received;
    r.extendedHighest = s.cycles + s.maxSeq;
    int64_t expected = (int64_t)r.extendedHighest - s.baseSeq + 1;
    int64_t lost = expected - s.received;
    r.cumulativeLost = (int32_t)std::clamp<int64_t>(lost, -0x800000, 0x7fffff);
    int64_t expectedInterval = expected - s.expectedPrior, receivedInterval = (int64_t)s.received - s.receivedPrior;
    int64_t lostInterval = expectedInterval - receivedInterval;
    r.fractionLost = (expectedInterval <= 0 || lostInterval <= 0) ? 0 : (uint8_t)std::min<int64_t>(255, (lostInterval << 8) / expectedInterval);
    r.jitter = (uint32_t)s.jitter;
    if (advance) {
      s.expectedPrior = (uint32_t)expected;
      s.receivedPrior = s.received;
    }
    out.push_back(r);
  }
  return out;
}

}  // namespace roomgate::plane
