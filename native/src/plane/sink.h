// One viewer's outgoing RTP stream of one kind (video or audio), driven by whichever thread handles its publisher's
// frames (the plane's, or JavaScript's when it pushes them): the keyframe
// gate, GOP replay for a fast first frame and picture-loss requests, continuous numbering across publisher
// reconnects, SRTP and sendmmsg, a short history for NACKs, and the counters sender reports need. Every consumer
// track of every publisher is one (src/room/viewer-track.ts drives it for a WHEP viewer).

#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "../rtp_batch.h"
#include "../srtp_send.h"
#include "send_counters.h"
#include "shared_limits.h"
#include "units.h"

namespace roomgate::plane {

/** Where a viewer's numbering stands, so another sender (JavaScript, or another publisher's sink) can continue it. */
struct Numbering {
  int32_t lastSeq = -1;  // -1: nothing sent yet
  uint32_t lastTs = 0;
  double lastWall = 0;   // NowMs() of the last send
};

/** What a sender report needs from this stream. */
struct SinkCounters {
  uint32_t packetCount = 0;
  uint64_t octetCount = 0;
  uint32_t rtpTimestamp = 0;
  double lastSendAt = 0;
};

/** Receives (kind, receivedAt, sentAt) for every frame a sink sent, when a benchmark asks for it. */
using LatencyRecorder = void (*)(void* ctx, bool video, double receivedAt, double sentAt);

class Sink {
 public:
  Sink(bool video, std::shared_ptr<SharedSrtp> srtp, uint32_t ssrc, uint8_t payloadType, uint32_t clockRate,
       const Numbering& from);

  /** The selected ICE pair (socket and peer) and whether ICE consent allows sending (RFC 7675). */
  void SetTarget(int fd, const Destination& to, bool consent);
  /** A new DTLS handshake brought new keys: the transport's new session. */
  void SetSession(std::shared_ptr<SharedSrtp> srtp) { srtp_ = std::move(srtp); }

  void OnVideo(const UnitPtr& unit, double now);
  void OnAudio(const UnitPtr& unit, double now);

  /** Sends the GOP (oldest first) ahead of live video, paced; a replay under way already ends at the newest frame. */
  void StartReplay(const std::vector<UnitPtr>& gop, double now);
  /** Sends the next burst of a replay when it is due; returns the time of the next one, or 0 when done. */
  double PumpReplay(double now);
  bool replaying() const { return replayAt_ < replay_.size(); }
  bool video() const { return video_; }

  /** Re-sends NACKed packets still in the history, unchanged. */
  void Retransmit(const uint16_t* seqs, size_t n);

  /** The next packet begins another source: continue the numbering instead of copying the publisher's. */
  void Rebase() { rebaseNext_ = true; }

  Numbering numbering() const { return numbering_; }
  const SinkCounters& counters() const { return counters_; }
  void SetLatencyRecorder(LatencyRecorder r, void* ctx) { recorder_ = r; recorderCtx_ = ctx; }
  /** The plane's counters of packets lost on the way out (Plane::AddSink sets them; none: not counted). */
  void SetSendCounters(SendCounters* c) { sendCounters_ = c; }

 private:
  struct Entry {
    UnitPtr unit;
    uint32_t index;      // payload index in the unit
    uint32_t timestamp;  // publisher-side timestamp to send (replays squeeze a GOP's timestamps)
  };
  /** Numbers, protects and sends; returns how many the kernel took (n when all). */
  uint32_t Send(const Entry* entries, uint32_t n, double now);
  void Anchor(const Entry& first, double now);
  /** Sends a batch of retransmissions; what the kernel refused is counted. */
  void Flushed(DatagramBatch& batch, uint32_t n);

  const bool video_;
  std::shared_ptr<SharedSrtp> srtp_;
  const uint32_t ssrc_;
  const uint8_t payloadType_;
  const uint32_t clockRate_;
  int fd_ = -1;
  Destination to_{};
  bool consent_ = false;

  Numbering numbering_;
  uint16_t seqOffset_ = 0;
  uint32_t tsOffset_ = 0;
  bool rebaseNext_ = true;
  bool waitingForKey_ = true;
  bool behind_ = false;  // the last send found the socket buffer full
  // While video skips to a keyframe because of a failed send (not a new sink's first wait): which of the send
  // counters the skipped packets are charged to, the full socket's or the missing consent's.
  std::atomic<uint64_t>* skipping_ = nullptr;
  std::atomic<uint64_t>* behindReason_ = nullptr;  // the counter the last failed send charges skipped frames to

  std::vector<Entry> replay_;
  size_t replayAt_ = 0;
  double nextReplayAt_ = 0;

  static constexpr uint32_t kHistory = shared::kSendHistory;  // 512: ~2 s of 2.5 Mb/s video, inside the SRTP replay window
  static_assert(kHistory > 0 && (kHistory & (kHistory - 1)) == 0, "shared-limits.json sendHistory must be a power of two");
  struct Sent {
    UnitPtr unit;
    uint32_t index = 0, timestamp = 0, word = 0;
  };
  std::vector<Sent> history_;

  SinkCounters counters_;
  SendCounters* sendCounters_ = nullptr;
  LatencyRecorder recorder_ = nullptr;
  void* recorderCtx_ = nullptr;
};

}  // namespace roomgate::plane
