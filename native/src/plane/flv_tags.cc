// See flv_tags.h. A tag in one read is handed out from the caller's buffer without a copy; one that straddles reads
// is gathered in body_.

#include "flv_tags.h"

#include <algorithm>
#include <cstring>

namespace roomgate::plane {

size_t FlvTagReader::Feed(const uint8_t* data, size_t len, bool (*onMessage)(void* ctx, const RtmpMessage& msg), void* ctx,
                          std::string* error) {
  if (dead_) {
    *error = "the FLV stream is already broken";
    return 0;
  }
  size_t at = 0;
  while (at < len) {
    if (need_ == 0) {
      uint32_t take = (uint32_t)std::min<size_t>(kHeaderBytes - headerBytes_, len - at);
      memcpy(header_ + headerBytes_, data + at, take);
      headerBytes_ += take;
      at += take;
      if (headerBytes_ < kHeaderBytes) break;
      uint32_t size = (uint32_t)header_[1] << 16 | (uint32_t)header_[2] << 8 | header_[3];
      if ((header_[0] & 0xc0) != 0 || size > maxTagSize_) {
        dead_ = true;
        *error = (header_[0] & 0xc0) != 0 ? "an FLV tag with its reserved bits set: the stream is not plain FLV"
                                          : "an FLV tag of " + std::to_string(size) + " bytes: the stream is garbage, not media";
        return at;
      }
      need_ = size + kTrailerBytes;
      bodyBytes_ = 0;
    }
    RtmpMessage m{};
    m.type = header_[0] & 0x1f;
    m.timestamp = (uint32_t)header_[7] << 24 | (uint32_t)header_[4] << 16 | (uint32_t)header_[5] << 8 | header_[6];
    m.length = need_ - kTrailerBytes;
    if (bodyBytes_ == 0 && len - at >= need_) {
      m.data = data + at;  // the whole tag is in this read
      at += need_;
    } else {
      if (body_.size() < need_) body_.resize(need_);
      uint32_t take = (uint32_t)std::min<size_t>(need_ - bodyBytes_, len - at);
      memcpy(body_.data() + bodyBytes_, data + at, take);
      bodyBytes_ += take;
      at += take;
      if (bodyBytes_ < need_) break;
      m.data = body_.data();
    }
    need_ = 0;
    headerBytes_ = 0;
    if (!onMessage(ctx, m)) return at;  // the caller keeps what follows
  }
  return at;
}

}  // namespace roomgate::plane
