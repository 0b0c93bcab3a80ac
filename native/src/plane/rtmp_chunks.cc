// RTMP chunk stream → messages (rtmp_chunks.h). A transcription of node-media-server 4.4.3's parser
// (src/protocol/rtmp.js: chunkRead, packetParse, chunkMessageHeaderRead, packetAlloc) with GuardedRtmp's limits
// (src/ingest/rtmp/guarded-rtmp.ts), because the connection starts in that parser and continues here: any
// difference in how a header, a delta or a chunk boundary is read would shift every later message. So the state
// machine, the order of its steps and the quirks are nms's, not the RTMP specification's:
//  - a state step that needs no bytes (fmt3's empty message header, no extended timestamp, a zero-length payload)
//    runs only when a byte is available, like nms's `while (offset < bytes)`, so errors and zero-length messages
//    surface at the same byte as in JavaScript;
//  - a 3-byte basic header gives csid (64 + b1 + b2) << 8, not 64 + b1 + 256·b2;
//  - the chunk boundary is where `bytes % chunkSize == 0`, counted from the start of the message;
//  - fmt 0 sets the clock, fmt 1/2/3 add the stored timestamp field, both only on a message's first chunk; a fmt3
//    chunk reads an extended timestamp whenever the stored field is 0xffffff;
//  - a message whose clock passed 0xffffffff is dropped (nms keeps the clock as a JS number and never wraps it).
// One deliberate difference: a fmt 0/1 header in the middle of a message that changes its length is an error. nms
// would copy past (or back before) what it allocated — its parse offset can even move backwards — which cannot be
// mirrored safely; no encoder sends it.

#include "rtmp_chunks.h"

#include <algorithm>
#include <cstring>

namespace roomgate::plane {

namespace {

enum ParseState { kInit = 0, kBasicHeader, kMessageHeader, kExtendedTimestamp, kPayload };

constexpr uint32_t kHeaderSize[4] = {11, 7, 3, 0};  // message header bytes per fmt
constexpr uint32_t kTypeSetChunkSize = 1;

uint32_t Be24(const uint8_t* p) { return (uint32_t(p[0]) << 16) | (uint32_t(p[1]) << 8) | p[2]; }
uint32_t Be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | Be24(p + 1); }

}  // namespace

ChunkReader::ChunkReader(const ChunkLimits& limits, uint32_t chunkSize, const std::vector<ChunkStreamState>& streams)
    : limits_(limits), chunkSize_(chunkSize) {
  // nms's inPackets at a message boundary: every field it reads later, and bytes == 0.
  for (const ChunkStreamState& st : streams) {
    Stream& s = streams_[st.csid];
    s.timestamp = st.timestamp;
    s.length = st.length;
    s.type = st.type;
    s.streamId = st.streamId;
    s.clock = st.clock;
  }
}

bool ChunkReader::Fail(std::string* error, std::string why) {
  dead_ = true;
  if (error) *error = std::move(why);
  return false;
}

// nms packetParse + chunkMessageHeaderRead, then GuardedRtmp's chunk stream count.
bool ChunkReader::ParseHeader(std::string* error) {
  fmt_ = header_[0] >> 6;
  uint32_t cid;
  if (basicBytes_ == 2) {
    cid = 64 + header_[1];
  } else if (basicBytes_ == 3) {
    cid = (64 + header_[1] + header_[2]) << 8;  // sic: nms's arithmetic, kept so the csids match
  } else {
    cid = header_[0] & 0x3f;
  }
  Stream& s = streams_[cid];  // a new csid starts from all-zero fields, like nms's new RtmpPacket
  current_ = &s;
  const uint8_t* p = header_ + basicBytes_;
  if (fmt_ <= 2) {
    s.timestamp = Be24(p);
    p += 3;
  }
  if (fmt_ <= 1) {
    uint32_t length = Be24(p);
    if (s.bytes != 0 && length != s.length) {
      return Fail(error, "a chunk header changes the length of a message in progress (" + std::to_string(s.length) +
                             " → " + std::to_string(length) + " bytes)");
    }
    s.length = length;
    s.type = p[3];
    p += 4;
  }
  if (fmt_ == 0) {
    s.streamId = uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);  // LE
  }
  // Counted after the header like GuardedRtmp.packetParse, handed-over chunk streams included: each one keeps a
  // reassembly buffer, so a peer must not open them without bound.
  if (streams_.size() > limits_.maxChunkStreams) {
    return Fail(error, "more than " + std::to_string(limits_.maxChunkStreams) + " chunk streams opened");
  }
  return true;
}

// A message is whole: nms's end of chunkRead's payload step, then packetHandler's SetChunkSize with GuardedRtmp's
// checks. Returns false on a protocol error.
bool ChunkReader::Complete(Stream& s, const uint8_t* body, std::string* error) {
  if (s.type == kTypeSetChunkSize) {
    if (s.length < 4) return Fail(error, "SetChunkSize message is too short");
    // 0 would make the parser spin; the top bit must be 0, which the upper bound also rules out.
    uint32_t size = Be32(body);
    if (size < 1 || size > limits_.maxChunkSize) {
      return Fail(error, "chunk size " + std::to_string(size) + " is outside 1–" + std::to_string(limits_.maxChunkSize));
    }
    chunkSize_ = size;
  }
  return true;
}

size_t ChunkReader::Feed(const uint8_t* data, size_t len, bool (*onMessage)(void* ctx, const RtmpMessage& msg),
                         void* ctx, std::string* error) {
  if (dead_) {
    Fail(error, "the RTMP chunk stream already failed");
    return 0;
  }
  if (chunkSize_ < 1 || chunkSize_ > limits_.maxChunkSize) {  // a bad hand-over; 0 would spin below
    Fail(error, "chunk size " + std::to_string(chunkSize_) + " is outside 1–" + std::to_string(limits_.maxChunkSize));
    return 0;
  }
  size_t off = 0;
  while (off < len) {
    switch (state_) {
      case kInit:
        headerBytes_ = 1;
        header_[0] = data[off++];
        basicBytes_ = (header_[0] & 0x3f) == 0 ? 2 : (header_[0] & 0x3f) == 1 ? 3 : 1;
        state_ = kBasicHeader;
        break;

      case kBasicHeader:
        while (headerBytes_ < basicBytes_ && off < len) header_[headerBytes_++] = data[off++];
        if (headerBytes_ >= basicBytes_) state_ = kMessageHeader;
        break;

      case kMessageHeader: {
        uint32_t size = kHeaderSize[header_[0] >> 6] + basicBytes_;
        while (headerBytes_ < size && off < len) header_[headerBytes_++] = data[off++];
        if (headerBytes_ >= size) {
          if (!ParseHeader(error)) return off;
          state_ = kExtendedTimestamp;
        }
        break;
      }

      case kExtendedTimestamp: {
        Stream& s = *current_;
        uint32_t size = kHeaderSize[fmt_] + basicBytes_;
        bool extended = s.timestamp == 0xffffff;
        if (extended) size += 4;
        while (headerBytes_ < size && off < len) header_[headerBytes_++] = data[off++];
        if (headerBytes_ >= size) {
          uint32_t ts = extended ? Be32(header_ + size - 4) : s.timestamp;
          if (s.bytes == 0) {  // a new message: clock, then GuardedRtmp.packetAlloc's size limit
            if (fmt_ == 0) {
              s.clock = ts;
            } else {
              s.clock += ts;
            }
            if (s.length > limits_.maxMessageSize) {
              Fail(error, "message of " + std::to_string(s.length) + " bytes exceeds the " +
                              std::to_string(limits_.maxMessageSize) + "-byte limit");
              return off;
            }
          }
          state_ = kPayload;
        }
        break;
      }

      case kPayload: {
        Stream& s = *current_;
        uint32_t size = std::min(chunkSize_ - s.bytes % chunkSize_, s.length - s.bytes);
        size = uint32_t(std::min<size_t>(size, len - off));
        const uint8_t* body;
        if (s.bytes == 0 && size == s.length) {
          body = data + off;  // the whole message is in this chunk and this buffer: no copy
        } else {
          // The only allocation: a message larger than any before on this chunk stream. The length cannot change
          // while bytes != 0 (ParseHeader), so growing here never loses received bytes' room.
          if (s.payload.size() < s.length) s.payload.resize(s.length);
          if (size > 0) std::memcpy(s.payload.data() + s.bytes, data + off, size);
          body = s.payload.data();
        }
        s.bytes += size;
        off += size;
        if (s.bytes >= s.length) {
          state_ = kInit;
          s.bytes = 0;
          if (s.clock > 0xffffffffu) break;  // nms drops it (and does not apply a SetChunkSize it carried)
          if (!Complete(s, body, error)) return off;
          RtmpMessage msg{s.type, s.streamId, uint32_t(s.clock), body, s.length};
          if (!onMessage(ctx, msg)) return off;
        } else if (s.bytes % chunkSize_ == 0) {
          state_ = kInit;
        }
        break;
      }
    }
  }
  return off;
}

}  // namespace roomgate::plane
