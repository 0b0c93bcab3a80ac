// Which RTMP media messages the native data plane handles itself, and the NAL scan of the ones it does. Everything
// else (sequence headers, other codecs, Enhanced RTMP, composition time ≠ 0, in-band SPS/PPS, B slices, malformed
// tags) is "slow": the JavaScript side parses it with src/media/flv-to-media.ts and applies src/media/policy.ts, so
// the policy and its refusal sentences stay in one place.

#pragma once

#include <cstdint>

namespace roomgate::plane {

constexpr int kMaxNals = 64;

struct VideoScan {
  bool fast = false;       // false: hand the tag to JavaScript
  bool keyframe = false;   // an IDR slice is present
  int count = 0;           // NAL units kept (AUD type 9 and filler type 12 dropped, zero-length skipped)
  uint32_t offset[kMaxNals];  // byte offset of each kept NAL unit in the tag body (after its length prefix)
  uint32_t length[kMaxNals];
};

/**
 * A legacy FLV AVC video tag body (RTMP message type 9): fast only when byte 0 is frame type 1 or 2 with codec id 7
 * (no Enhanced RTMP bit 0x80), AVCPacketType (byte 1) is 1, the composition time (bytes 2–4, signed) is 0, the
 * AVCC sample (from byte 5, NAL lengths of `naluLengthSize` bytes: 1, 2, 3 or 4) is well formed, no NAL unit is an
 * SPS (7) or PPS (8), the first slice (type 1 or 5) is not a B slice (slice_type % 5 == 1, read as
 * src/media/h264.ts sliceType does, emulation prevention removed), at most kMaxNals NAL units are kept, and at
 * least one is.
 */
VideoScan ScanVideoTag(const uint8_t* body, uint32_t len, int naluLengthSize);

/**
 * slice_type of the slice NAL unit nal[0, len) as src/media/h264.ts sliceType reads it. Returns -1 where JavaScript
 * throws a MediaError (bits run out, a code with more than 31 leading zeros, slice_type > 9): the unit is malformed
 * and JavaScript must refuse it.
 */
int SliceType(const uint8_t* nal, uint32_t len);

/** A legacy FLV AAC raw frame (RTMP message type 8): SoundFormat 10 and AACPacketType 1 with ≥ 1 byte after them. */
bool IsAacFrame(const uint8_t* body, uint32_t len);

}  // namespace roomgate::plane
