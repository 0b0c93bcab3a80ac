// H.264 access unit → RTP payloads (RFC 6184, packetization-mode 1), byte for byte what src/media/rtp-h264.ts
// produces: SPS/PPS (one STAP-A when more than one set fits, else single NAL units / FU-A) ahead of an IDR unless
// the access unit carries them, single NAL unit packets up to the budget, FU-A beyond it.

#pragma once

#include <cstdint>
#include <vector>

namespace roomgate::plane {

struct ParamSets {
  std::vector<std::vector<uint8_t>> sps;  // raw NAL units (header byte included, no start code / length prefix)
  std::vector<std::vector<uint8_t>> pps;
};

/**
 * Appends the payloads of one access unit to `out` back to back and, for each, its end offset in `out` to `ends`
 * (payload i spans [ends[i-1] or the size of `out` on entry, ends[i])). `nals`/`lens` are the access unit's NAL
 * units in order. `maxPayload` is the payload budget (1200).
 */
void PacketizeH264(const uint8_t* const* nals, const uint32_t* lens, int count, bool keyframe, const ParamSets& sets,
                   uint32_t maxPayload, std::vector<uint8_t>& out, std::vector<uint32_t>& ends);

}  // namespace roomgate::plane
