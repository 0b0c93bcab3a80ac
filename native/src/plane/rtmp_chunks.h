// RTMP chunk stream → messages, for the native RTMP data plane (plane.cc). It continues a chunk stream that
// node-media-server's JavaScript parser began (handshake, connect, publish): the JavaScript side hands over its
// chunk size and per-chunk-stream headers at a message boundary, and this reader goes on from there with the same
// semantics (header compression, extended timestamps, clock arithmetic) and the limits GuardedRtmp enforces.

#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace roomgate::plane {

struct ChunkLimits {
  uint32_t maxChunkSize;     // largest chunk size a peer may announce (SetChunkSize), else an error
  uint32_t maxMessageSize;   // largest message length, checked when a message's first chunk header arrives
  uint32_t maxChunkStreams;  // distinct chunk stream ids a peer may open
};

/** What node-media-server keeps per chunk stream id (its RtmpPacket header + clock), handed over at a boundary. */
struct ChunkStreamState {
  uint32_t csid = 0;
  uint32_t timestamp = 0;  // the last timestamp/delta field read for this chunk stream (nms header.timestamp)
  uint32_t length = 0;     // message length
  uint8_t type = 0;        // message type id
  uint32_t streamId = 0;   // message stream id
  uint64_t clock = 0;      // absolute timestamp of the last message (nms packet.clock)
};

struct RtmpMessage {
  uint8_t type;
  uint32_t streamId;
  uint32_t timestamp;  // the message's clock (ms)
  const uint8_t* data; // valid only during the callback
  uint32_t length;
};

/** What a pipe reads its input with: an RTMP chunk stream (ChunkReader) or an FLV byte stream (FlvTagReader). */
class MessageReader {
 public:
  virtual ~MessageReader() = default;
  /** As ChunkReader::Feed below. */
  virtual size_t Feed(const uint8_t* data, size_t len, bool (*onMessage)(void* ctx, const RtmpMessage& msg), void* ctx,
                      std::string* error) = 0;
};

class ChunkReader : public MessageReader {
 public:
  ChunkReader(const ChunkLimits& limits, uint32_t chunkSize, const std::vector<ChunkStreamState>& streams);

  /**
   * Parses `len` bytes. For each complete message calls `onMessage(ctx, msg)`; SetChunkSize (type 1) is applied
   * here and also reported. When `onMessage` returns false, parsing stops right after that message. Returns the
   * number of bytes consumed (== len unless stopped). On a protocol error (limit exceeded, chunk size 0 or too
   * large, SetChunkSize shorter than 4 bytes) sets `error` to a sentence and returns; the reader is then unusable.
   */
  size_t Feed(const uint8_t* data, size_t len, bool (*onMessage)(void* ctx, const RtmpMessage& msg), void* ctx,
              std::string* error) override;

  uint32_t chunkSize() const { return chunkSize_; }

 private:
  // nms's RtmpPacket for one chunk stream id: its header fields, clock and reassembly state.
  struct Stream {
    uint32_t timestamp = 0;        // last timestamp/delta field read (nms header.timestamp)
    uint32_t length = 0;           // message length (nms header.length)
    uint32_t streamId = 0;         // message stream id (nms header.stream_id)
    uint8_t type = 0;              // message type id (nms header.type)
    uint64_t clock = 0;            // absolute timestamp; may pass 2^32 (JS number), such messages are dropped
    uint32_t bytes = 0;            // payload bytes of the current message received so far
    std::vector<uint8_t> payload;  // reassembly buffer, grown (never shrunk) when a message needs more
  };

  bool Fail(std::string* error, std::string why);
  bool ParseHeader(std::string* error);
  bool Complete(Stream& s, const uint8_t* body, std::string* error);

  ChunkLimits limits_;
  uint32_t chunkSize_;  // nms inChunkSize
  // unordered_map keeps element addresses stable across rehashing, so current_ stays valid.
  std::unordered_map<uint32_t, Stream> streams_;
  // The chunk header being read, possibly across Feed calls (nms parserBuffer / parserBytes / parserBasicBytes).
  uint8_t header_[18];
  uint32_t headerBytes_ = 0;
  uint32_t basicBytes_ = 0;
  uint8_t fmt_ = 0;     // fmt of the chunk being read
  int state_ = 0;       // nms parserState
  Stream* current_ = nullptr;  // nms parserPacket
  bool dead_ = false;
};

}  // namespace roomgate::plane
