// Test-only binding of the Opus → AAC core (`require('media.node').testing.opusToAac`), so
// test/native/opus-aac.test.ts can drive opus_aac_core.cc with real encoder output. Not used by
// the gateway: the recorder calls OpusAac from C++.
//
//   opusToAac(packets: { data: Buffer, pts48k: number }[], bitrate?: number, channels?: number)
//     -> { asc: Buffer, frames: { data: Buffer, pts48k: number }[], errors: number, priming: number,
//          stats: { packetsIn, framesOut, errors, gapFills, filledSamples, late, resyncs, lastError } }
//   One OpusAac (bitrate 0 or undefined: the default), every packet pushed in order, then Flush().
//   Bad arguments throw TypeError / RangeError with the core's sentence.

#include <napi.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "../opus_aac_core.h"

namespace roomgate::plane {

namespace {

int OptionalInt(const Napi::CallbackInfo& info, size_t i, const char* name, int fallback) {
  if (info.Length() <= i || info[i].IsUndefined()) return fallback;
  const double d = info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 1e9) {
    throw Napi::TypeError::New(info.Env(), std::string("testing.opusToAac: ") + name + " must be an integer");
  }
  return (int)d;
}

Napi::Value OpusToAac(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "testing.opusToAac(packets: { data: Buffer, pts48k: number }[], bitrate?, channels?)";
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, usage);
  Napi::Array packets = info[0].As<Napi::Array>();
  const int bitrate = OptionalInt(info, 1, "bitrate", 0);
  const int channels = OptionalInt(info, 2, "channels", 2);

  std::unique_ptr<OpusAac> codec;
  try {
    codec = std::make_unique<OpusAac>(bitrate, channels);
  } catch (const std::out_of_range& e) {
    throw Napi::RangeError::New(env, e.what());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }

  std::vector<AacFrame> frames;
  for (uint32_t i = 0; i < packets.Length(); i++) {
    Napi::Value v = packets.Get(i);
    Napi::Object p = v.IsObject() ? v.As<Napi::Object>() : Napi::Object::New(env);
    Napi::Value data = p.Get("data"), pts = p.Get("pts48k");
    const double ptsD = pts.IsNumber() ? pts.As<Napi::Number>().DoubleValue() : NAN;
    if (!data.IsBuffer() || !std::isfinite(ptsD) || ptsD != std::floor(ptsD) || std::fabs(ptsD) > 9007199254740991.0) {
      throw Napi::TypeError::New(env, "testing.opusToAac: packets[" + std::to_string(i) +
                                          "] must be { data: Buffer, pts48k: safe integer }");
    }
    auto b = data.As<Napi::Buffer<uint8_t>>();
    codec->Push(b.Data(), b.Length(), (int64_t)ptsD, &frames);
  }
  codec->Flush(&frames);

  Napi::Array outFrames = Napi::Array::New(env, frames.size());
  for (size_t i = 0; i < frames.size(); i++) {
    Napi::Object f = Napi::Object::New(env);
    f.Set("data", Napi::Buffer<uint8_t>::Copy(env, frames[i].data.data(), frames[i].data.size()));
    f.Set("pts48k", (double)frames[i].pts48k);
    outFrames.Set((uint32_t)i, f);
  }
  const std::vector<uint8_t>& asc = codec->Asc();
  const OpusAac::Stats s = codec->stats();
  Napi::Object stats = Napi::Object::New(env);
  stats.Set("packetsIn", (double)s.packetsIn);
  stats.Set("framesOut", (double)s.framesOut);
  stats.Set("errors", (double)s.errors);
  stats.Set("gapFills", (double)s.gapFills);
  stats.Set("filledSamples", (double)s.filledSamples);
  stats.Set("late", (double)s.late);
  stats.Set("resyncs", (double)s.resyncs);
  stats.Set("lastError", s.lastError);

  Napi::Object r = Napi::Object::New(env);
  r.Set("asc", Napi::Buffer<uint8_t>::Copy(env, asc.data(), asc.size()));
  r.Set("frames", outFrames);
  r.Set("errors", (double)codec->errors());
  r.Set("priming", codec->priming());
  r.Set("stats", stats);
  return r;
}

}  // namespace

void AddOpusAacTesting(Napi::Env env, Napi::Object exports) {
  exports.Set("opusToAac", Napi::Function::New(env, OpusToAac, "opusToAac"));
}

}  // namespace roomgate::plane
