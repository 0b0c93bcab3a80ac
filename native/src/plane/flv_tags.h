// FLV byte stream → tags, as messages of the same shape the RTMP chunk reader makes, so that a pipe handles both the
// same way. It reads a pull task's ffmpeg output (`-f flv pipe:1`) from where JavaScript stopped reading it: at a tag
// boundary, after the file header, with the bytes of a partial tag handed over (src/ingest/pull/ffmpeg-run.ts).

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rtmp_chunks.h"

namespace roomgate::plane {

class FlvTagReader : public MessageReader {
 public:
  /** `maxTagSize`: a larger tag means the stream is garbage, not media. */
  explicit FlvTagReader(uint32_t maxTagSize) : maxTagSize_(maxTagSize) {}

  size_t Feed(const uint8_t* data, size_t len, bool (*onMessage)(void* ctx, const RtmpMessage& msg), void* ctx,
              std::string* error) override;

 private:
  static constexpr uint32_t kHeaderBytes = 11;  // type, size (24), timestamp (24 + 8), stream id (24)
  static constexpr uint32_t kTrailerBytes = 4;  // PreviousTagSize
  uint32_t maxTagSize_;
  uint8_t header_[kHeaderBytes];
  uint32_t headerBytes_ = 0;
  std::vector<uint8_t> body_;  // the tag being read, then its trailer
  uint32_t bodyBytes_ = 0;
  uint32_t need_ = 0;          // body + trailer bytes of the current tag (0: reading a header)
  bool dead_ = false;
};

}  // namespace roomgate::plane
