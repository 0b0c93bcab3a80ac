// The data plane's packets: one access unit's RTP payloads (or one Opus packet) packetized once per publisher and
// shared, by reference count, between the publisher's GOP cache and every viewer's send history.

#pragma once

#include <time.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace roomgate::plane {

/** CLOCK_MONOTONIC in milliseconds: the clock libuv's (and so performance.now()'s) readings come from. */
inline double NowMs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

struct Unit {
  std::vector<uint8_t> bytes;   // payloads back to back
  std::vector<uint32_t> ends;   // end offset of each payload in `bytes`
  uint16_t firstSeq = 0;        // the publisher-side sequence number of payload 0 (then +1 each)
  uint32_t timestamp = 0;       // the publisher-side RTP timestamp of every payload
  bool keyframe = false;
  double receivedAt = 0;        // NowMs() when the message that made it was read

  uint32_t count() const { return (uint32_t)ends.size(); }
  const uint8_t* payload(uint32_t i, uint32_t* len) const {
    uint32_t start = i == 0 ? 0 : ends[i - 1];
    *len = ends[i] - start;
    return bytes.data() + start;
  }
};

using UnitPtr = std::shared_ptr<const Unit>;

}  // namespace roomgate::plane
