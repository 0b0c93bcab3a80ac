// A pipe's WHIP input (pipe.h AttachRtp, rtp_in.h): werift's UDP socket read in batches, and what RtpIn makes of
// the datagrams. Like an RTMP socket's tags, an access unit goes straight to the viewers when nothing about it needs
// JavaScript; one with new parameter sets, or a slice JavaScript must rule on (src/media/policy.ts: B-frames are
// refused there, with their sentence), goes to JavaScript, and the frames after it wait until it is handled so that
// their order is kept.

#include <arpa/inet.h>
#include <errno.h>
#include <sys/socket.h>

#include <cstring>

#include "flv_fast.h"
#include "pipe.h"

namespace roomgate::plane {

namespace {

constexpr int kBatch = 16;
constexpr size_t kDatagramSize = 2048;  // above any path MTU; a longer datagram is cut and dropped
constexpr size_t kMaxHeldFrames = 1000;  // ~15 s of audio and video: JavaScript has stopped answering
constexpr double kKeyframeWantedEveryMs = 250;
/**
 * The publisher's socket buffer once the engine reads it: ~3 s of a 2.5 Mb/s publisher, so that a thread kept off
 * the CPU for a moment (a busy machine) loses nothing. The kernel's default (rmem_default, ~200 KB) is under 1 s.
 */
constexpr int kReceiveBuffer = 1 << 20;
/**
 * Datagrams handed to werift per second at most. A publisher's own are a few a second (ICE consent, sender reports);
 * a flood of STUN- or DTLS-looking garbage would otherwise cost the event loop what werift's reading cost before.
 */
constexpr int kDatagramsPerSecond = 200;
constexpr int kNalSps = 7, kNalPps = 8, kNalSlice = 1, kNalIdr = 5, kSliceB = 1;

thread_local uint8_t t_datagrams[kBatch][kDatagramSize];

bool Contains(const std::vector<std::vector<uint8_t>>& list, const uint8_t* nal, uint32_t len) {
  for (const auto& x : list) {
    if (x.size() == len && memcmp(x.data(), nal, len) == 0) return true;
  }
  return false;
}

}  // namespace

void Pipe::AttachRtp(int fd, const RtpInConfig& config) {
  rtpIn_ = std::make_unique<RtpIn>(config, this);
  if (fd >= 0) {
    // FORCE passes rmem_max where the process may (CAP_NET_ADMIN); otherwise the kernel caps the plain request.
    int size = kReceiveBuffer;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  fd_ = fd;
  status_ = kReading;
}

void Pipe::PushSrtp(uint8_t* data, int len, double now) {
  if (!rtpIn_ || status_ == kEnded) return;
  now_ = now;
  rtpIn_->OnDatagram(data, len, nullptr, now);
}

Pipe::Status Pipe::ReadDatagrams(double now) {
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  sockaddr_storage from[kBatch];
  int errors = 0;
  while (status_ == kReading && rtpIn_) {
    for (int i = 0; i < kBatch; i++) {
      iov[i] = {t_datagrams[i], kDatagramSize};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    int n = recvmmsg(fd_, msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EBADF || errno == ENOTSOCK) {
        status_ = kEnded;
        Post(Event::kEnded, std::string("socket error: ") + strerror(errno));
        break;
      }
      // EINTR, or an ICMP error a send left on the socket (ECONNREFUSED): UDP goes on.
      if (++errors > 8) break;
      continue;
    }
    now_ = now;
    counters_.lastInputAt = now;
    for (int i = 0; i < n && rtpIn_; i++) {
      if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) continue;
      rtpIn_->OnDatagram(t_datagrams[i], (int)msgs[i].msg_len, &from[i], now);
    }
    if (n < kBatch) break;
  }
  return status_;
}

void Pipe::OnRtpVideo(const uint8_t* const* nals, const uint32_t* lens, int count, double ms, bool keyframe) {
  if (!rtpWait_) return RtpVideo(nals, lens, count, ms, keyframe);
  if (heldFrames_.size() >= kMaxHeldFrames) return;
  HeldFrame f{true, keyframe, ms, 0, {}, {}};
  for (int i = 0; i < count; i++) {
    f.bytes.insert(f.bytes.end(), nals[i], nals[i] + lens[i]);
    f.lens.push_back(lens[i]);
  }
  heldFrames_.push_back(std::move(f));
}

void Pipe::OnRtpOpus(const uint8_t* data, uint32_t len, uint32_t timestamp) {
  if (!rtpWait_) return RtpOpus(data, len, timestamp);
  if (heldFrames_.size() >= kMaxHeldFrames) return;
  heldFrames_.push_back(HeldFrame{false, false, 0, timestamp, std::vector<uint8_t>(data, data + len), {}});
}

void Pipe::RtpVideo(const uint8_t* const* nals, const uint32_t* lens, int count, double ms, bool keyframe) {
  bool slow = count > kMaxNals, sliceSeen = false;
  if (naluLengthSize_ == 0) {
    // Nothing can decode it before a config: unless it brings an SPS (JavaScript's to judge), JavaScript would drop
    // it and ask for a keyframe, so that is done here.
    bool bringsSps = false;
    for (int i = 0; i < count && !bringsSps; i++) bringsSps = (nals[i][0] & 0x1f) == kNalSps;
    if (!bringsSps) return OnRtpKeyframeWanted();
    slow = true;
  }
  for (int i = 0; i < count && !slow; i++) {
    const int t = nals[i][0] & 0x1f;
    if (t == kNalSps) {
      slow = !Contains(sets_.sps, nals[i], lens[i]);
    } else if (t == kNalPps) {
      slow = !Contains(sets_.pps, nals[i], lens[i]);
    } else if (!sliceSeen && (t == kNalSlice || t == kNalIdr)) {
      sliceSeen = true;
      const int st = SliceType(nals[i], lens[i]);
      slow = st < 0 || st % 5 == kSliceB;
    }
  }
  if (!slow) return VideoUnit(nals, lens, count, ms, keyframe);
  Event e{Event::kRtpVideo, id_, uint8_t(keyframe ? 1 : 0)};
  e.number = ms;
  for (int i = 0; i < count; i++) {
    const uint32_t n = lens[i];
    const uint8_t len[4] = {uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n)};
    e.body.insert(e.body.end(), len, len + 4);
    e.body.insert(e.body.end(), nals[i], nals[i] + n);
  }
  events_->Post(std::move(e));
  rtpWait_ = true;
}

void Pipe::RtpOpus(const uint8_t* data, uint32_t len, uint32_t timestamp) {
  CountAudio(len);
  if (blockAudio_) return;  // SetUserBlocked: counted, sent nowhere
  for (Tap* t : taps_) t->OnOpus(data, len, timestamp);
  EmitOpus(data, len, timestamp);
}

void Pipe::ResumeRtp(double now) {
  now_ = now;
  rtpWait_ = false;
  while (!rtpWait_ && !heldFrames_.empty()) {
    HeldFrame f = std::move(heldFrames_.front());
    heldFrames_.pop_front();
    if (!f.video) {
      RtpOpus(f.bytes.data(), (uint32_t)f.bytes.size(), f.timestamp);
      continue;
    }
    const uint8_t* nals[kMaxRtpUnitNals];
    int count = 0;
    size_t offset = 0;
    for (uint32_t n : f.lens) {
      nals[count++] = f.bytes.data() + offset;
      offset += n;
    }
    RtpVideo(nals, f.lens.data(), count, f.ms, f.keyframe);
  }
}

void Pipe::OnRtpDatagram(const uint8_t* data, size_t len, const sockaddr_storage& from) {
  if (now_ - datagramWindow_ >= 1000) datagramWindow_ = now_, datagramsInWindow_ = 0;
  if (++datagramsInWindow_ > kDatagramsPerSecond) return;
  char host[INET6_ADDRSTRLEN] = "";
  int port = 0;
  if (from.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&from);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (from.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&from);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  } else {
    return;
  }
  Event e{Event::kDatagram, id_};
  e.body.assign(data, data + len);
  e.text = host;
  e.number = port;
  events_->Post(std::move(e));
}

void Pipe::OnRtpNack(uint32_t ssrc, const std::vector<uint16_t>& seqs) {
  Event e{Event::kNack, id_};
  e.number = ssrc;
  for (uint16_t s : seqs) {
    e.body.push_back(uint8_t(s >> 8));
    e.body.push_back(uint8_t(s));
  }
  events_->Post(std::move(e));
}

void Pipe::OnRtpKeyframeWanted() {
  // JavaScript paces the requests to the publisher; this only keeps a lossy stream from flooding it with events.
  if (now_ - lastKeyframeWanted_ < kKeyframeWantedEveryMs) return;
  lastKeyframeWanted_ = now_;
  Post(Event::kKeyframeWanted);
}

}  // namespace roomgate::plane
