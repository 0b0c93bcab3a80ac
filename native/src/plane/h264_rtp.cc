// H.264 access unit → RTP payloads (h264_rtp.h), a transcription of H264RtpPacketizer in src/media/rtp-h264.ts.
// Byte-identical on purpose: a room can get its video from this path or from JavaScript (sequence headers,
// in-band parameter sets), and a receiver must not see two packetizations of the same stream differ.

#include "h264_rtp.h"

#include <algorithm>

namespace roomgate::plane {

namespace {

constexpr int kNalSps = 7;
constexpr int kNalPps = 8;
constexpr uint8_t kStapA = 24;
constexpr uint8_t kFuA = 28;

// The NAL header byte; JavaScript's `n[0]` of an empty Buffer is undefined, which its bit operations treat as 0.
uint8_t Head(const uint8_t* nal, uint32_t len) { return len > 0 ? nal[0] : 0; }

void Push(const uint8_t* p, uint32_t n, std::vector<uint8_t>& out, std::vector<uint32_t>& ends) {
  out.insert(out.end(), p, p + n);
  ends.push_back(uint32_t(out.size()));
}

// FU-A: the NAL header's F/NRI in the indicator, its type in the FU header; S on the first fragment, E on the last.
void Fragment(const uint8_t* nal, uint32_t len, uint32_t maxPayload, std::vector<uint8_t>& out,
              std::vector<uint32_t>& ends) {
  const uint8_t indicator = (Head(nal, len) & 0xe0) | kFuA;
  const uint8_t type = Head(nal, len) & 0x1f;
  // JavaScript loops forever below a 3-byte budget (step 0); here such a budget still terminates.
  const uint32_t chunk = maxPayload > 2 ? maxPayload - 2 : 1;
  for (uint32_t o = 1; o < len; o += chunk) {
    const uint32_t end = std::min(len, o + chunk);
    out.push_back(indicator);
    out.push_back(type | (o == 1 ? 0x80 : 0) | (end == len ? 0x40 : 0));
    out.insert(out.end(), nal + o, nal + end);
    ends.push_back(uint32_t(out.size()));
  }
}

void Single(const uint8_t* nal, uint32_t len, uint32_t maxPayload, std::vector<uint8_t>& out,
            std::vector<uint32_t>& ends) {
  if (len <= maxPayload) {
    Push(nal, len, out, ends);
  } else {
    Fragment(nal, len, maxPayload, out, ends);
  }
}

// SPS and PPS ahead of an IDR, so a viewer joining at this keyframe can decode it, unless the access unit carries
// them itself; one STAP-A when there are several and they fit, else each on its own.
void ParameterSets(const uint8_t* const* nals, const uint32_t* lens, int count, const ParamSets& sets,
                   uint32_t maxPayload, std::vector<uint8_t>& out, std::vector<uint32_t>& ends) {
  bool hasSps = false, hasPps = false;
  for (int i = 0; i < count; i++) {
    const int t = Head(nals[i], lens[i]) & 0x1f;
    if (t == kNalSps) hasSps = true;
    else if (t == kNalPps) hasPps = true;
  }
  // The sets to send, in JavaScript's order: every SPS, then every PPS.
  size_t n = 0;
  uint32_t stapSize = 1;
  auto visit = [&](auto&& fn) {
    if (!hasSps) for (const auto& s : sets.sps) fn(s);
    if (!hasPps) for (const auto& s : sets.pps) fn(s);
  };
  visit([&](const std::vector<uint8_t>& s) {
    n++;
    stapSize += 2 + uint32_t(s.size());
  });
  if (n == 0) return;
  if (n > 1 && stapSize <= maxPayload) {
    const size_t start = out.size();
    out.push_back(0);  // STAP-A header, written once the highest NRI is known
    uint8_t nri = 0;
    visit([&](const std::vector<uint8_t>& s) {
      nri = std::max<uint8_t>(nri, Head(s.data(), uint32_t(s.size())) & 0x60);
      out.push_back(uint8_t(s.size() >> 8));
      out.push_back(uint8_t(s.size()));
      out.insert(out.end(), s.begin(), s.end());
    });
    out[start] = nri | kStapA;
    ends.push_back(uint32_t(out.size()));
    return;
  }
  visit([&](const std::vector<uint8_t>& s) { Single(s.data(), uint32_t(s.size()), maxPayload, out, ends); });
}

}  // namespace

void PacketizeH264(const uint8_t* const* nals, const uint32_t* lens, int count, bool keyframe, const ParamSets& sets,
                   uint32_t maxPayload, std::vector<uint8_t>& out, std::vector<uint32_t>& ends) {
  if (keyframe) ParameterSets(nals, lens, count, sets, maxPayload, out, ends);
  for (int i = 0; i < count; i++) Single(nals[i], lens[i], maxPayload, out, ends);
}

}  // namespace roomgate::plane
