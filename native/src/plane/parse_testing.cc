// Test-only bindings of the data plane's pure parsers (`require('media.node').testing`), so
// test/native/plane-parse.test.ts can compare them with the JavaScript they replace on the same bytes. Not used by
// the gateway; copies freely, since only correctness matters here.
//
//   chunks(data, { chunkSize, maxChunkSize, maxMessageSize, maxChunkStreams, splits?, streams?, stopEach? })
//       -> { messages: { type, streamId, timestamp, body }[], consumed, error, chunkSize }
//     One ChunkReader fed `data` cut at the offsets in `splits`. `stopEach` makes the callback return false after
//     every message and the caller feed the rest again (the stop/resume path plane.cc uses).
//   scanVideo(body, naluLengthSize) -> { fast, keyframe, nals: [offset, length][] }
//   isAacFrame(body) -> boolean
//   packetize(nalus, keyframe, sps, pps, maxPayload) -> Buffer[]

#include <napi.h>

#include <algorithm>
#include <string>
#include <vector>

#include "flv_fast.h"
#include "h264_rtp.h"
#include "chunk_args.h"

namespace roomgate::plane {

namespace {

struct Collected {
  Napi::Env env;
  Napi::Array messages;
  bool stopEach;
};

bool OnMessage(void* ctx, const RtmpMessage& m) {
  auto* c = static_cast<Collected*>(ctx);
  Napi::Object o = Napi::Object::New(c->env);
  o.Set("type", m.type);
  o.Set("streamId", m.streamId);
  o.Set("timestamp", m.timestamp);
  o.Set("body", m.length > 0 ? Napi::Buffer<uint8_t>::Copy(c->env, m.data, m.length)
                             : Napi::Buffer<uint8_t>::New(c->env, 0));
  c->messages.Set(c->messages.Length(), o);
  return !c->stopEach;
}

Napi::Buffer<uint8_t> BufferArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsBuffer()) {
    throw Napi::TypeError::New(info.Env(), std::string("testing.") + what + " must be a Buffer");
  }
  return info[i].As<Napi::Buffer<uint8_t>>();
}

Napi::Array ArrayOpt(Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsArray() ? v.As<Napi::Array>() : Napi::Array::New(o.Env());
}

Napi::Value Chunks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto data = BufferArg(info, 0, "chunks: data");
  if (info.Length() < 2 || !info[1].IsObject()) throw Napi::TypeError::New(env, "testing.chunks: opts must be an object");
  Napi::Object opts = info[1].As<Napi::Object>();
  ChunkHandOver h = ChunkHandOverArg(opts, "testing.chunks");
  std::vector<size_t> cuts;
  Napi::Array splits = ArrayOpt(opts, "splits");
  for (uint32_t i = 0; i < splits.Length(); i++) {
    cuts.push_back(std::min<size_t>(splits.Get(i).ToNumber().Uint32Value(), data.Length()));
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.push_back(data.Length());

  ChunkReader reader(h.limits, h.chunkSize, h.streams);
  Collected c{env, Napi::Array::New(env), opts.Get("stopEach").ToBoolean().Value()};
  std::string error;
  size_t pos = 0;
  for (size_t cut : cuts) {
    // Feed [pos, cut); after a stop, feed the rest of the piece again, as plane.cc does once it has room.
    while (error.empty() && pos < cut) {
      uint32_t before = c.messages.Length();
      size_t n = reader.Feed(data.Data() + pos, cut - pos, OnMessage, &c, &error);
      pos += n;
      // A stop may come before any byte is consumed (a zero-length message whose header came earlier), but a
      // call that neither consumed nor delivered anything would loop forever: report it instead.
      if (n == 0 && error.empty() && c.messages.Length() == before) error = "testing: Feed made no progress";
    }
    if (!error.empty()) break;
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("messages", c.messages);
  r.Set("consumed", double(pos));
  r.Set("error", error);
  r.Set("chunkSize", reader.chunkSize());
  return r;
}

Napi::Value ScanVideo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto body = BufferArg(info, 0, "scanVideo: body");
  int size = info.Length() > 1 ? info[1].ToNumber().Int32Value() : 4;
  VideoScan scan = ScanVideoTag(body.Data(), uint32_t(body.Length()), size);
  Napi::Object r = Napi::Object::New(env);
  r.Set("fast", scan.fast);
  r.Set("keyframe", scan.keyframe);
  Napi::Array nals = Napi::Array::New(env);
  for (int i = 0; scan.fast && i < scan.count; i++) {
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, scan.offset[i]);
    pair.Set(1u, scan.length[i]);
    nals.Set(uint32_t(i), pair);
  }
  r.Set("nals", nals);
  return r;
}

Napi::Value IsAac(const Napi::CallbackInfo& info) {
  auto body = BufferArg(info, 0, "isAacFrame: body");
  return Napi::Boolean::New(info.Env(), IsAacFrame(body.Data(), uint32_t(body.Length())));
}

std::vector<std::vector<uint8_t>> BufferList(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string("testing.packetize: ") + what + " must be an array of Buffers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::vector<uint8_t>> out;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsBuffer()) throw Napi::TypeError::New(env, std::string("testing.packetize: ") + what + " must be an array of Buffers");
    auto b = e.As<Napi::Buffer<uint8_t>>();
    out.emplace_back(b.Data(), b.Data() + b.Length());
  }
  return out;
}

Napi::Value Packetize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5) throw Napi::TypeError::New(env, "testing.packetize(nalus, keyframe, sps, pps, maxPayload)");
  std::vector<std::vector<uint8_t>> nalus = BufferList(env, info[0], "nalus");
  ParamSets sets{BufferList(env, info[2], "sps"), BufferList(env, info[3], "pps")};
  std::vector<const uint8_t*> ptrs;
  std::vector<uint32_t> lens;
  for (const auto& n : nalus) {
    ptrs.push_back(n.data());
    lens.push_back(uint32_t(n.size()));
  }
  std::vector<uint8_t> out;
  std::vector<uint32_t> ends;
  PacketizeH264(ptrs.data(), lens.data(), int(nalus.size()), info[1].ToBoolean().Value(), sets,
                info[4].ToNumber().Uint32Value(), out, ends);
  Napi::Array r = Napi::Array::New(env, ends.size());
  uint32_t start = 0;
  for (size_t i = 0; i < ends.size(); i++) {
    uint32_t n = ends[i] - start;
    r.Set(uint32_t(i), n > 0 ? Napi::Buffer<uint8_t>::Copy(env, out.data() + start, n) : Napi::Buffer<uint8_t>::New(env, 0));
    start = ends[i];
  }
  return r;
}

}  // namespace

void AddParseTesting(Napi::Env env, Napi::Object exports) {
  exports.Set("chunks", Napi::Function::New(env, Chunks, "chunks"));
  exports.Set("scanVideo", Napi::Function::New(env, ScanVideo, "scanVideo"));
  exports.Set("isAacFrame", Napi::Function::New(env, IsAac, "isAacFrame"));
  exports.Set("packetize", Napi::Function::New(env, Packetize, "packetize"));
}

}  // namespace roomgate::plane
