// What both RTP send paths share (the SrtpSender addon object and the RTMP data plane): a UDP destination parsed
// from werift's IP string, the 12-byte RTP header written in front of a payload, and a batch of datagrams handed to
// the kernel with one sendmmsg(2).

#pragma once

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace roomgate {

constexpr int kRtpHeaderLen = 12;
/** Largest payload either path sends: the packetizers make ≤ 1200 bytes; this leaves room for header and tag. */
constexpr int kMaxRtpPayload = 1400;
constexpr int kBatchSize = 64;

struct Destination {
  sockaddr_storage addr;
  socklen_t len;
};

/** Parses an IPv4 or IPv6 address string and port; false when `host` is not an IP address. */
inline bool ParseDestination(const std::string& host, uint16_t port, Destination* d) {
  memset(&d->addr, 0, sizeof d->addr);
  d->len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&d->addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&d->addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    d->len = sizeof *v4;
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    d->len = sizeof *v6;
    return true;
  }
  return false;
}

/**
 * Writes an RTP header (version 2, no padding/extension/CSRC) and the payload at `p`; returns the packet length.
 * `word` = seq | payloadType << 16 | marker << 23, the layout src/native/srtp-send.ts documents.
 */
inline int WriteRtp(uint8_t* p, uint32_t ssrc, uint32_t ts, uint32_t word, const uint8_t* payload, uint32_t len) {
  p[0] = 0x80;
  p[1] = (uint8_t)(((word >> 23) & 1) << 7 | ((word >> 16) & 0x7f));
  p[2] = (uint8_t)(word >> 8);
  p[3] = (uint8_t)word;
  p[4] = (uint8_t)(ts >> 24); p[5] = (uint8_t)(ts >> 16); p[6] = (uint8_t)(ts >> 8); p[7] = (uint8_t)ts;
  p[8] = (uint8_t)(ssrc >> 24); p[9] = (uint8_t)(ssrc >> 16); p[10] = (uint8_t)(ssrc >> 8); p[11] = (uint8_t)ssrc;
  memcpy(p + kRtpHeaderLen, payload, len);
  return kRtpHeaderLen + (int)len;
}

/** Up to kBatchSize datagrams to one destination, handed to the kernel with sendmmsg(2). */
class DatagramBatch {
 public:
  explicit DatagramBatch(const Destination& dst) : dst_(dst) {}

  void Add(uint32_t i, uint8_t* p, int len) {
    iov_[i].iov_base = p;
    iov_[i].iov_len = (size_t)len;
    memset(&msgs_[i], 0, sizeof msgs_[i]);
    msgs_[i].msg_hdr.msg_name = const_cast<sockaddr_storage*>(&dst_.addr);
    msgs_[i].msg_hdr.msg_namelen = dst_.len;
    msgs_[i].msg_hdr.msg_iov = &iov_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
  }

  /**
   * Sends messages 0..n-1. Returns how many the kernel took (fewer when the socket buffer is full), or -errno for
   * another error (e.g. unreachable).
   */
  int Flush(int fd, uint32_t n) {
    uint32_t done = 0;
    error_ = 0;
    while (done < n) {
      int r = sendmmsg(fd, msgs_ + done, n - done, MSG_DONTWAIT);
      if (r < 0) {
        if (errno == EINTR) continue;
        error_ = errno;
        sent_ = done;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;
        return -errno;
      }
      done += (uint32_t)r;
    }
    sent_ = done;
    return (int)done;
  }

  /**
   * After Flush: the errno that stopped it (0 when every message went) and how many went before it. Flush's -errno
   * answer loses the second; the plane's send counters need both (plane/send_counters.h).
   */
  int error() const { return error_; }
  uint32_t sent() const { return sent_; }

 private:
  const Destination& dst_;
  int error_ = 0;
  uint32_t sent_ = 0;
  mmsghdr msgs_[kBatchSize];
  iovec iov_[kBatchSize];
};

}  // namespace roomgate
