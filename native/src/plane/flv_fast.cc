// The native data plane's fast path for FLV tags (flv_fast.h): the plain H.264 / AAC frames an encoder sends
// between sequence headers. Everything this says "no" to goes to JavaScript (src/media/flv-to-media.ts), which
// owns parsing the rest and the refusals, so the checks here only need to be as strict as that path: when
// ScanVideoTag answers fast, FlvToMedia would have forwarded exactly these NAL units with pts == dts.

#include "flv_fast.h"

namespace roomgate::plane {

namespace {

constexpr int kNalSlice = 1;
constexpr int kNalIdr = 5;
constexpr int kNalSps = 7;
constexpr int kNalPps = 8;
constexpr int kNalAud = 9;
constexpr int kNalFiller = 12;
constexpr int kSliceB = 1;

uint32_t ReadNalLength(const uint8_t* p, int size) {
  uint32_t v = 0;
  for (int i = 0; i < size; i++) v = (v << 8) | p[i];
  return v;
}

}  // namespace

// The first 24 bytes with emulation prevention removed (counting from the NAL header byte, which is never 0), then
// first_mb_in_slice and slice_type as Exp-Golomb codes from byte 1.
int SliceType(const uint8_t* nal, uint32_t len) {
  uint8_t rbsp[24];
  uint32_t n = 0;
  int zeros = 0;
  for (uint32_t i = 0; i < len && n < sizeof rbsp; i++) {
    uint8_t b = nal[i];
    if (zeros >= 2 && b == 3) {
      zeros = 0;
      continue;
    }
    zeros = b == 0 ? zeros + 1 : 0;
    rbsp[n++] = b;
  }
  uint32_t pos = 8;  // bit position: after the NAL header byte
  const uint32_t end = n * 8;
  auto readBit = [&](int& bit) {
    if (pos >= end) return false;
    bit = (rbsp[pos >> 3] >> (7 - (pos & 7))) & 1;
    pos++;
    return true;
  };
  auto readUe = [&](uint64_t& v) {
    int zeroBits = 0, bit = 0;
    for (;;) {
      if (!readBit(bit)) return false;
      if (bit == 1) break;
      if (++zeroBits > 31) return false;
    }
    uint64_t rest = 0;
    if (end - pos < uint32_t(zeroBits)) return false;  // readBits checks the whole width first
    for (int i = 0; i < zeroBits; i++) {
      readBit(bit);
      rest = rest * 2 + bit;
    }
    v = (uint64_t(1) << zeroBits) - 1 + rest;
    return true;
  };
  uint64_t firstMb = 0, sliceType = 0;
  if (!readUe(firstMb) || !readUe(sliceType) || sliceType > 9) return -1;
  return int(sliceType);
}

VideoScan ScanVideoTag(const uint8_t* body, uint32_t len, int naluLengthSize) {
  VideoScan scan;
  if (len < 5 || naluLengthSize < 1 || naluLengthSize > 4) return scan;
  const uint8_t b0 = body[0];
  // Legacy header only (0x80 is Enhanced RTMP), frame type 1 (key) or 2 (inter), codec 7 (AVC), AVCPacketType 1.
  const int frameType = b0 >> 4;
  if ((b0 & 0x80) != 0 || (frameType != 1 && frameType != 2) || (b0 & 0x0f) != 7 || body[1] != 1) return scan;
  // Signed composition time: any value but 0 means reordering, which JavaScript refuses.
  if (body[2] != 0 || body[3] != 0 || body[4] != 0) return scan;

  const uint32_t size = uint32_t(naluLengthSize);
  bool sliceSeen = false;
  uint32_t off = 5;
  while (off < len) {
    if (len - off < size) return VideoScan{};  // length prefix cut short: malformed, JavaScript refuses
    const uint32_t n = ReadNalLength(body + off, naluLengthSize);
    off += size;
    if (n > len - off) return VideoScan{};  // runs past the end of the tag
    if (n == 0) continue;
    const int t = body[off] & 0x1f;
    if (t != kNalAud && t != kNalFiller) {  // AUD and filler carry nothing a WebRTC receiver needs
      // In-band parameter sets update the decoder configuration, which JavaScript keeps.
      if (t == kNalSps || t == kNalPps) return VideoScan{};
      if (t == kNalIdr) scan.keyframe = true;
      if (!sliceSeen && (t == kNalSlice || t == kNalIdr)) {
        // The first slice decides, like FlvToMedia: a B slice (or an unreadable header) is JavaScript's refusal.
        sliceSeen = true;
        const int st = SliceType(body + off, n);
        if (st < 0 || st % 5 == kSliceB) return VideoScan{};
      }
      if (scan.count == kMaxNals) return VideoScan{};
      scan.offset[scan.count] = off;
      scan.length[scan.count] = n;
      scan.count++;
    }
    off += n;
  }
  if (scan.count == 0) return VideoScan{};  // nothing to forward; JavaScript counts it as skipped
  scan.fast = true;
  return scan;
}

bool IsAacFrame(const uint8_t* body, uint32_t len) {
  // SoundFormat 10 (the other nibble bits, rate/size/channels, are ignored for AAC), AACPacketType 1 (raw).
  return len >= 3 && (body[0] >> 4) == 10 && body[1] == 1;
}

}  // namespace roomgate::plane
