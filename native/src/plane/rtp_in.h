// A WHIP publisher's RTP taken in by the engine: its SRTP datagrams, read off werift's UDP socket on the engine's
// thread (or handed over by JavaScript for the few werift read itself), decrypted, put back in order, depacketized
// into H.264 access units and Opus packets on one clock, and passed to the pipe. werift keeps ICE, DTLS and RTCP:
// every datagram that is not RTP goes back to it through the pipe's events, with its source address.
//
// Why here and not in werift: its per-packet receive path (dgram, ICE and DTLS demux, packet objects, events) cost
// a WHIP publisher more than the whole of an RTMP publisher (docs/performance.md, "One engine"). The rules are the
// TypeScript reference's, which test/native/rtp-in.test.ts runs side by side on real encoder output:
// src/media/rtp-reorder.ts (the reorder wait), src/media/rtp-h264-depacketizer.ts (RFC 6184 mode 1),
// src/media/rtp-clock.ts (timestamps anchored to arrival) and the NACK rules of the former
// src/ingest/whip/nack-requester.ts (modelled in test/native/fixtures/rtp-reference.ts; retries here wait for the
// next packet instead of a timer). Where they differ on purpose, that test says why.

#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "../srtp_protect.h"

namespace roomgate::plane {

/** NAL units kept per access unit; more are dropped (a picture has far fewer slices). */
constexpr int kMaxRtpUnitNals = 256;

struct RtpInConfig {
  int profile = 0;
  std::vector<uint8_t> key, salt;  // the publisher's (remote) SRTP master key and salt
  std::vector<uint8_t> videoPayloadTypes, audioPayloadTypes;  // H.264 and Opus, as negotiated
  double clockStart = 0;  // plane ms that the frames' timestamps count from (the session's start)
};

/** Where RtpIn's results go (the pipe). */
class RtpOutput {
 public:
  virtual ~RtpOutput() = default;
  /** One access unit, AUD and filler NAL units left out; `ms` on the session's clock. */
  virtual void OnRtpVideo(const uint8_t* const* nals, const uint32_t* lens, int count, double ms, bool keyframe) = 0;
  /** One Opus packet with its 48 kHz timestamp on the session's clock. */
  virtual void OnRtpOpus(const uint8_t* data, uint32_t len, uint32_t timestamp) = 0;
  /** A datagram for werift: STUN, DTLS or (S)RTCP. */
  virtual void OnRtpDatagram(const uint8_t* data, size_t len, const sockaddr_storage& from) = 0;
  /** Video packets of `ssrc` to ask for again (RFC 4585 generic NACK). */
  virtual void OnRtpNack(uint32_t ssrc, const std::vector<uint16_t>& seqs) = 0;
  /** Frames are being dropped until the next keyframe: ask the publisher for one. */
  virtual void OnRtpKeyframeWanted() = 0;
};

/** One SSRC's reception, as an RTCP receiver report block states it (RFC 3550 §6.4.1, Appendix A.3 and A.8). */
struct RtpSourceReport {
  uint32_t ssrc = 0;
  bool video = false;
  uint32_t received = 0;
  uint32_t extendedHighest = 0;
  int32_t cumulativeLost = 0;
  uint8_t fractionLost = 0;  // since the previous report
  uint32_t jitter = 0;       // in timestamp units
};

struct RtpInCounters {
  uint64_t packets = 0, bytes = 0;  // authentic RTP packets and their bytes
  uint32_t rejected = 0;            // failed SRTP authentication, or not RTP
  uint32_t unknownPayload = 0;      // a payload type that was not negotiated
  uint32_t nacked = 0, recovered = 0, gaveUp = 0, tooLate = 0;
  double lastRtpAt = 0;             // plane ms of the last authentic RTP packet
};

class RtpIn {
 public:
  /** Throws std::invalid_argument for a profile or key the SRTP code does not take. */
  RtpIn(const RtpInConfig& config, RtpOutput* out);
  ~RtpIn();

  /** One datagram off the socket (decrypted in place when it is SRTP). `from` null: JavaScript passed RTP on. */
  void OnDatagram(uint8_t* data, int len, const sockaddr_storage* from, double now);

  const RtpInCounters& counters() const { return counters_; }
  /** Report blocks for every SSRC seen; `advance` starts the next fraction-lost interval (one per RTCP report). */
  std::vector<RtpSourceReport> Report(bool advance);

 private:
  struct Source;
  /** One track's RTP timestamps to ms (src/media/rtp-clock.ts): anchored to its first packet's arrival. */
  struct Clock {
    bool set = false;
    double base = 0, baseMs = 0;
    uint32_t last = 0;
    int64_t wraps = 0;
    double rate;
  };
  struct Held {
    uint16_t seq;
    uint32_t timestamp;
    bool marker;
    double arrival;
    std::vector<uint8_t> payload;
  };

  void OnRtp(uint8_t* data, int len, double now);
  Source& SourceOf(uint32_t ssrc, bool video);
  /** RFC 3550 A.1's update_seq: follows the numbering for the report; false for a packet it leaves uncounted. */
  static bool CountForReport(Source& s, uint16_t seq);
  void TrackNacks(Source& s, uint16_t seq, double now);
  // the reorder buffer (src/media/rtp-reorder.ts)
  void Reorder(uint16_t seq, uint32_t ts, bool marker, const uint8_t* payload, size_t len, double now);
  void SkipHole(double now);
  void Drain(double now);
  void Restart(uint16_t seq, uint32_t ts, bool marker, const uint8_t* payload, size_t len, double now);
  // the depacketizer (src/media/rtp-h264-depacketizer.ts)
  void Depacketize(uint16_t seq, uint32_t ts, bool marker, const uint8_t* payload, size_t len, double arrival);
  void Finish(double arrival);
  void ResetUnit();
  static double ToMs(Clock& c, uint32_t timestamp, double arrival, double start);

  RtpOutput* out_;
  std::unique_ptr<SrtpProtector> srtp_;
  bool videoPt_[128] = {}, audioPt_[128] = {};
  double clockStart_;
  RtpInCounters counters_;
  std::vector<std::unique_ptr<Source>> sources_;

  // reorder buffer state
  int32_t next_ = -1;
  std::map<uint16_t, Held> held_;  // keyed by sequence number; order by distance from next_ when releasing
  double holeSince_ = 0;

  // depacketizer state
  std::vector<uint8_t> unit_;                          // the access unit's NAL units, back to back
  std::vector<std::pair<uint32_t, uint32_t>> nals_;    // offset, length in unit_
  int64_t fuStart_ = -1;                               // offset in unit_ of the fragmented NAL unit being rebuilt
  int64_t unitTs_ = -1;
  int64_t spoiledTs_ = -1;  // the timestamp of a picture that lost packets: the rest of it is dropped
  int32_t lastSeq_ = -1;
  bool broken_ = true;

  Clock videoClock_{false, 0, 0, 0, 0, 90000}, audioClock_{false, 0, 0, 0, 0, 48000};

};

}  // namespace roomgate::plane
