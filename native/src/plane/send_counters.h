// What became of the RTP packets the engine's sinks did not get onto the wire, for GET /metrics (issue 21's "UDP send
// errors and drops"). One set per plane, shared by all its sinks. Only the failure paths touch it, with one relaxed
// atomic add per failed send or skipped frame: a packet that goes out costs nothing here. Atomics, not the plane's
// mutex, so a scrape reads them without waiting for the plane's thread (which holds the mutex while it sends).
//
// Everything is counted in RTP packets, and each lost packet in exactly one of the four, so their sum is what the
// engine meant to send and did not.

#pragma once

#include <errno.h>

#include <atomic>
#include <cstdint>

namespace roomgate::plane {

struct SendCounters {
  /** Refused by the kernel because the socket's send buffer was full (EAGAIN, EWOULDBLOCK, ENOBUFS). */
  std::atomic<uint64_t> bufferFull{0};
  /** Refused by the kernel for another reason (ECONNREFUSED, ENETUNREACH, EPERM, …). */
  std::atomic<uint64_t> otherError{0};
  /**
   * Never handed to the kernel because the viewer was behind: the rest of a frame after a send the socket did not
   * take, and the video frames skipped until the next keyframe (sink.cc OnVideo's backlog rule).
   */
  std::atomic<uint64_t> droppedBehind{0};
  /** Never handed to the kernel because the viewer's transport had no ICE consent or no socket (RFC 7675). */
  std::atomic<uint64_t> droppedNoConsent{0};

  /** Counts `lost` packets of a sendmmsg that stopped at `err` (an errno; 0 when all went). */
  void Refused(int err, uint32_t lost) {
    if (err == 0 || lost == 0) return;
    bool full = err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS;
    (full ? bufferFull : otherError).fetch_add(lost, std::memory_order_relaxed);
  }
  static void Add(std::atomic<uint64_t>& c, uint64_t n) {
    if (n > 0) c.fetch_add(n, std::memory_order_relaxed);
  }
};

}  // namespace roomgate::plane
