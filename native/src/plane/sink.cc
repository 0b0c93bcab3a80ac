// See sink.h. Everything here runs with the plane's mutex held (on its thread, or on the JavaScript thread for
// NACKs, picture-loss requests and set-up), so a sink is never used by two threads at once.

#include "sink.h"

#include <algorithm>
#include <cmath>

#include "shared_limits.h"

namespace roomgate::plane {

namespace {

/** A replayed GOP goes out in bursts (a 1–2 s GOP at once overflows a receiver's default socket buffer). */
constexpr uint32_t kReplayBurst = shared::kReplayBurst;
constexpr double kReplayTickMs = shared::kReplayTickMs;
constexpr int kSlotLen = kRtpHeaderLen + kMaxRtpPayload + kSrtpMaxTrailer;
static_assert(shared::kRtpMaxPayload <= (uint32_t)kMaxRtpPayload, "shared-limits.json rtpMaxPayload exceeds a send slot");

// Packets are built in the calling thread's own buffer: one plane thread per gateway, and the JavaScript thread.
thread_local uint8_t t_slots[kBatchSize][kSlotLen];

}  // namespace

Sink::Sink(bool video, std::shared_ptr<SharedSrtp> srtp, uint32_t ssrc, uint8_t payloadType, uint32_t clockRate,
           const Numbering& from)
    : video_(video), srtp_(std::move(srtp)), ssrc_(ssrc), payloadType_(payloadType), clockRate_(clockRate), numbering_(from),
      history_(kHistory) {}

void Sink::SetTarget(int fd, const Destination& to, bool consent) {
  fd_ = fd;
  to_ = to;
  consent_ = consent;
}

void Sink::OnVideo(const UnitPtr& unit, double now) {
  if (replaying()) {
    // live video queues behind the replay so the decoder sees one ordered stream
    for (uint32_t i = 0; i < unit->count(); i++) replay_.push_back({unit, i, unit->timestamp});
    return;
  }
  if (behind_) {
    waitingForKey_ = true;  // behind: drop to the next keyframe rather than add latency
    skipping_ = behindReason_;
  }
  if (waitingForKey_) {
    // A keyframe is tried even while behind: if the socket takes it, the viewer has caught up.
    if (!unit->keyframe) {
      if (skipping_) SendCounters::Add(*skipping_, unit->count());
      return;
    }
    waitingForKey_ = false;
    skipping_ = nullptr;
  }
  Entry entries[kBatchSize];
  uint32_t n = unit->count(), done = 0;
  while (done < n) {
    uint32_t k = std::min<uint32_t>(kBatchSize, n - done);
    for (uint32_t i = 0; i < k; i++) entries[i] = {unit, done + i, unit->timestamp};
    uint32_t handed = Send(entries, k, now);
    done += k;
    if (handed < k) {
      // the rest of the frame is never tried (Send counted this batch's own losses)
      if (sendCounters_) SendCounters::Add(sendCounters_->droppedBehind, n - done);
      break;
    }
  }
  if (recorder_) recorder_(recorderCtx_, true, unit->receivedAt, NowMs());
}

void Sink::OnAudio(const UnitPtr& unit, double now) {
  Entry e{unit, 0, unit->timestamp};
  Send(&e, 1, now);
  if (recorder_) recorder_(recorderCtx_, false, unit->receivedAt, NowMs());
}

void Sink::StartReplay(const std::vector<UnitPtr>& gop, double now) {
  if (!video_) return;  // a GOP is video: an audio sink asked to replay (a wiring mistake) sends nothing
  if (gop.empty() || replaying()) return;  // no IDR yet: the keyframe gate waits for one
  replay_.clear();
  replayAt_ = 0;
  // Timestamps one tick apart ending at the newest frame's own: the decoder runs through the GOP at once and shows
  // the current picture instead of playing it in real time and staying that far behind live.
  uint32_t last = gop.back()->timestamp;
  for (size_t i = 0; i < gop.size(); i++) {
    uint32_t ts = last - (uint32_t)(gop.size() - 1 - i);
    for (uint32_t k = 0; k < gop[i]->count(); k++) replay_.push_back({gop[i], k, ts});
  }
  Rebase();
  waitingForKey_ = false;
  skipping_ = nullptr;  // the replay ends any skip: nothing after it is dropped for an earlier failure
  nextReplayAt_ = now;
  PumpReplay(now);
}

double Sink::PumpReplay(double now) {
  if (!replaying()) return 0;
  if (now < nextReplayAt_) return nextReplayAt_;
  uint32_t k = (uint32_t)std::min<size_t>(kReplayBurst, replay_.size() - replayAt_);
  Send(&replay_[replayAt_], k, now);
  replayAt_ += k;
  if (!replaying()) {
    replay_.clear();
    replayAt_ = 0;
    return 0;
  }
  nextReplayAt_ = now + kReplayTickMs;
  return nextReplayAt_;
}

void Sink::Anchor(const Entry& first, double now) {
  rebaseNext_ = false;
  if (numbering_.lastSeq < 0) return;
  double elapsed = std::max(1.0, std::round((now - numbering_.lastWall) * clockRate_ / 1000.0));
  uint16_t firstSeq = (uint16_t)(first.unit->firstSeq + first.index);
  seqOffset_ = (uint16_t)(numbering_.lastSeq + 1 - firstSeq);
  tsOffset_ = numbering_.lastTs + (uint32_t)elapsed - first.timestamp;
}

uint32_t Sink::Send(const Entry* entries, uint32_t n, double now) {
  if (n == 0) return 0;
  if (rebaseNext_) Anchor(entries[0], now);
  if (fd_ < 0 || !consent_) {
    behind_ = true;  // RFC 7675: no media without consent; the packets are lost as on the wire
    if (sendCounters_) {
      SendCounters::Add(sendCounters_->droppedNoConsent, n);
      behindReason_ = &sendCounters_->droppedNoConsent;
    }
    return 0;
  }
  DatagramBatch batch(to_);
  uint32_t octets = 0, seq = 0, ts = 0;
  {
    std::lock_guard<std::mutex> lock(srtp_->mu);
    if (!srtp_->protector) return 0;  // the JavaScript side closed the transport
    for (uint32_t i = 0; i < n; i++) {
      const Entry& e = entries[i];
      uint32_t len;
      const uint8_t* payload = e.unit->payload(e.index, &len);
      seq = (uint16_t)(e.unit->firstSeq + e.index + seqOffset_);
      ts = e.timestamp + tsOffset_;
      bool marker = video_ && e.index == e.unit->count() - 1;
      uint32_t word = seq | (uint32_t)payloadType_ << 16 | (marker ? 1u << 23 : 0);
      int plen = WriteRtp(t_slots[i], ssrc_, ts, word, payload, len);
      if (!srtp_->protector->Protect(t_slots[i], &plen)) return 0;
      batch.Add(i, t_slots[i], plen);
      Sent& h = history_[seq & (kHistory - 1)];
      h.unit = e.unit;
      h.index = e.index;
      h.timestamp = ts;
      h.word = word;
      octets += len;
    }
  }
  int r = batch.Flush(fd_, n);
  uint32_t handed = r < 0 ? 0 : (uint32_t)r;  // an unreachable peer loses the packets, as on the wire
  if (handed < n && sendCounters_) {
    sendCounters_->Refused(batch.error(), n - batch.sent());
    behindReason_ = &sendCounters_->droppedBehind;
  }
  numbering_.lastSeq = (int32_t)seq;
  numbering_.lastTs = ts;
  numbering_.lastWall = now;
  behind_ = handed < n;
  counters_.packetCount += n;
  counters_.octetCount += octets;
  counters_.rtpTimestamp = ts;
  counters_.lastSendAt = now;
  return handed;
}

void Sink::Retransmit(const uint16_t* seqs, size_t n) {
  if (fd_ < 0 || !consent_) return;
  DatagramBatch batch(to_);
  uint32_t k = 0;
  std::lock_guard<std::mutex> lock(srtp_->mu);
  if (!srtp_->protector) return;
  for (size_t i = 0; i < n; i++) {
    if (k == (uint32_t)kBatchSize) {  // a NACK may name more packets than one batch holds
      Flushed(batch, k);
      k = 0;
    }
    const Sent& h = history_[seqs[i] & (kHistory - 1)];
    if (!h.unit || (h.word & 0xffff) != seqs[i]) continue;
    uint32_t len;
    const uint8_t* payload = h.unit->payload(h.index, &len);
    int plen = WriteRtp(t_slots[k], ssrc_, h.timestamp, h.word, payload, len);
    if (!srtp_->protector->Protect(t_slots[k], &plen)) return;
    batch.Add(k, t_slots[k], plen);
    k++;
  }
  if (k > 0) Flushed(batch, k);
}

void Sink::Flushed(DatagramBatch& batch, uint32_t n) {
  batch.Flush(fd_, n);
  if (sendCounters_) sendCounters_->Refused(batch.error(), n - batch.sent());
}

}  // namespace roomgate::plane
