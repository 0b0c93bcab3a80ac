// The chunk-stream hand-over as JavaScript describes it — { chunkSize, maxChunkSize, maxMessageSize,
// maxChunkStreams, streams?: [{ csid, timestamp, length, type, streamId, clock }] } — read once for
// RtmpPlane.attachSocket (addon.cc) and the test binding's chunks() (parse_testing.cc).

#pragma once

#include <napi.h>

#include <string>
#include <vector>

#include "rtmp_chunks.h"

namespace roomgate::plane {

struct ChunkHandOver {
  ChunkLimits limits;
  uint32_t chunkSize;
  std::vector<ChunkStreamState> streams;
};

/** `o[key]` as a uint32; a TypeError naming `who` when it is not a number. */
inline uint32_t U32Field(Napi::Object o, const char* key, const char* who) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string(who) + ": " + key + " must be a number");
  return v.As<Napi::Number>().Uint32Value();
}

inline ChunkHandOver ChunkHandOverArg(Napi::Object o, const char* who) {
  ChunkHandOver h{{U32Field(o, "maxChunkSize", who), U32Field(o, "maxMessageSize", who), U32Field(o, "maxChunkStreams", who)},
                  U32Field(o, "chunkSize", who),
                  {}};
  Napi::Value list = o.Get("streams");
  if (!list.IsArray()) return h;
  Napi::Array a = list.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Object s = a.Get(i).As<Napi::Object>();
    ChunkStreamState st;
    st.csid = U32Field(s, "csid", who);
    st.timestamp = U32Field(s, "timestamp", who);
    st.length = U32Field(s, "length", who);
    st.type = uint8_t(U32Field(s, "type", who));
    st.streamId = U32Field(s, "streamId", who);
    st.clock = uint64_t(s.Get("clock").ToNumber().Int64Value());  // a JS number: node-media-server's clock may pass 2^32
    h.streams.push_back(st);
  }
  return h;
}

}  // namespace roomgate::plane
