// See rtmp_out.h.

#include "rtmp_out.h"

#include <algorithm>

namespace roomgate::plane {

namespace {

constexpr uint8_t kAudioCsid = 4, kVideoCsid = 6;
constexpr uint8_t kAudioMessage = 8, kVideoMessage = 9;
constexpr uint32_t kExtended = 0xFFFFFF;
// FLV tag bodies (E.4.2.1, E.4.3.1): AAC (10) at "44 kHz, 16-bit, stereo", the flags every AAC tag carries whatever
// the real rate (the AudioSpecificConfig says it); AVC (7) as a key (1) or inter (2) frame.
constexpr uint8_t kAacFlags = 0xAF;
constexpr uint8_t kAvcKey = 0x17, kAvcInter = 0x27;
constexpr uint8_t kSequenceHeader = 0, kCodedData = 1;

void Put(std::vector<uint8_t>& out, std::initializer_list<uint8_t> bytes) { out.insert(out.end(), bytes); }
void PutBe32(std::vector<uint8_t>& out, uint32_t v) { Put(out, {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v}); }

}  // namespace

std::vector<uint8_t> RtmpTags::AvcConfig(const ParamSets& sets) {
  std::vector<uint8_t> c;
  if (sets.sps.empty() || sets.sps[0].size() < 4 || sets.pps.empty()) return c;
  const auto& sps = sets.sps[0];
  // version 1; profile, compatibility and level from the SPS; 4-byte NAL lengths (0xFF: 6 reserved bits + 3)
  c = {1, sps[1], sps[2], sps[3], 0xFF, (uint8_t)(0xE0 | std::min<size_t>(sets.sps.size(), 31))};
  auto put = [&c](const std::vector<uint8_t>& nal) {
    Put(c, {(uint8_t)(nal.size() >> 8), (uint8_t)nal.size()});
    c.insert(c.end(), nal.begin(), nal.end());
  };
  for (size_t i = 0; i < sets.sps.size() && i < 31; i++) put(sets.sps[i]);
  c.push_back((uint8_t)std::min<size_t>(sets.pps.size(), 255));
  for (size_t i = 0; i < sets.pps.size() && i < 255; i++) put(sets.pps[i]);
  return c;
}

bool RtmpTags::Video(const uint8_t* const* nals, const uint32_t* lens, int count, uint32_t ms, bool keyframe,
                     const ParamSets& sets, std::vector<RtmpOutMessage>* out) {
  if (keyframe) {
    std::vector<uint8_t> config = AvcConfig(sets);
    if (!config.empty() && config != videoConfig_) {
      RtmpOutMessage& m = out->emplace_back(RtmpOutMessage{kVideoMessage, ms, false, {kAvcKey, kSequenceHeader, 0, 0, 0}});
      m.body.insert(m.body.end(), config.begin(), config.end());
      videoConfig_ = std::move(config);
    }
  }
  if (videoConfig_.empty()) return false;
  size_t size = 5;
  for (int i = 0; i < count; i++) size += 4 + lens[i];
  // composition time 0: the policy refuses B-frames, so every frame is shown when decoded
  RtmpOutMessage& m = out->emplace_back(RtmpOutMessage{kVideoMessage, ms, keyframe, {keyframe ? kAvcKey : kAvcInter, kCodedData, 0, 0, 0}});
  m.body.reserve(size);
  for (int i = 0; i < count; i++) {
    PutBe32(m.body, lens[i]);
    m.body.insert(m.body.end(), nals[i], nals[i] + lens[i]);
  }
  return true;
}

void RtmpTags::Aac(const uint8_t* data, uint32_t len, uint32_t ms, const std::vector<uint8_t>& asc, std::vector<RtmpOutMessage>* out) {
  if (!asc.empty() && asc != audioConfig_) {
    RtmpOutMessage& m = out->emplace_back(RtmpOutMessage{kAudioMessage, ms, false, {kAacFlags, kSequenceHeader}});
    m.body.insert(m.body.end(), asc.begin(), asc.end());
    audioConfig_ = asc;
  }
  RtmpOutMessage& m = out->emplace_back(RtmpOutMessage{kAudioMessage, ms, false, {kAacFlags, kCodedData}});
  m.body.insert(m.body.end(), data, data + len);
}

void RtmpTags::Forget() {
  videoConfig_.clear();
  audioConfig_.clear();
}

void ChunkRtmpMessage(const RtmpOutMessage& m, uint32_t streamId, uint32_t chunkSize, std::vector<uint8_t>* out) {
  uint8_t csid = m.type == kVideoMessage ? kVideoCsid : kAudioCsid;
  uint32_t size = (uint32_t)m.body.size(), ts = std::min(m.ms, kExtended);
  bool extended = m.ms >= kExtended;
  chunkSize = std::max<uint32_t>(chunkSize, 1);
  out->reserve(out->size() + 16 + size + (size / chunkSize + 1) * 5);
  Put(*out, {csid, (uint8_t)(ts >> 16), (uint8_t)(ts >> 8), (uint8_t)ts, (uint8_t)(size >> 16), (uint8_t)(size >> 8),
             (uint8_t)size, m.type,
             // the message stream id is the one little-endian field of the header
             (uint8_t)streamId, (uint8_t)(streamId >> 8), (uint8_t)(streamId >> 16), (uint8_t)(streamId >> 24)});
  if (extended) PutBe32(*out, m.ms);
  for (uint32_t at = 0; at < size; at += chunkSize) {
    if (at > 0) {
      out->push_back((uint8_t)(0xC0 | csid));  // type 3: the same message goes on
      if (extended) PutBe32(*out, m.ms);
    }
    uint32_t n = std::min(chunkSize, size - at);
    out->insert(out->end(), m.body.begin() + at, m.body.begin() + at + n);
  }
}

}  // namespace roomgate::plane
