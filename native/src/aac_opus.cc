// roomgate — N-API wrapper (JS class AacOpusTranscoder) around roomgate::AacOpus, the AAC → Opus
// transcoder in aac_opus_core.{h,cc}, where the pipeline and its decisions are described.
//
// This file only converts: JS options → AacOpus::Options (type checks here; ranges checked with
// the core's own AacOpus::CheckOption so both report the same text), the core's C++ exceptions →
// JS errors (std::invalid_argument → TypeError, std::out_of_range → RangeError, anything else →
// Error), and the core's packet buffer → the flat array push()/flush() return. It also reports
// the native footprint to the GC. Everything runs synchronously on the JS thread.

#include <napi.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "aac_opus_core.h"

namespace {

using roomgate::AacOpus;

constexpr int64_t kExternalBytes = 192 * 1024;  // rough native footprint, reported to the GC

// Call inside a catch block: rethrows the current exception as the JS error the API documents
// (a Napi::Error as is).
[[noreturn]] void RethrowAsJs(Napi::Env env) {
  try {
    throw;
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::invalid_argument& e) {
    throw Napi::TypeError::New(env, e.what());
  } catch (const std::out_of_range& e) {
    throw Napi::RangeError::New(env, e.what());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

class AacOpusTranscoder : public Napi::ObjectWrap<AacOpusTranscoder> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "AacOpusTranscoder",
                       {
                           InstanceMethod<&AacOpusTranscoder::Push>("push"),
                           InstanceMethod<&AacOpusTranscoder::Flush>("flush"),
                           InstanceMethod<&AacOpusTranscoder::SetVolume>("setVolume"),
                           InstanceMethod<&AacOpusTranscoder::Close>("close"),
                           InstanceAccessor<&AacOpusTranscoder::GetVolume>("volume"),
                           InstanceAccessor<&AacOpusTranscoder::GetErrors>("errors"),
                           InstanceAccessor<&AacOpusTranscoder::GetStats>("stats"),
                           InstanceAccessor<&AacOpusTranscoder::GetClosed>("closed"),
                           InstanceAccessor<&AacOpusTranscoder::GetLookahead>("lookahead"),
                           InstanceAccessor<&AacOpusTranscoder::GetChannels>("channels"),
                           InstanceAccessor<&AacOpusTranscoder::GetApplication>("application"),
                       });
  }

  explicit AacOpusTranscoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AacOpusTranscoder>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      throw Napi::TypeError::New(env, "AacOpusTranscoder: options object required ({ asc: Buffer, ... })");
    }
    Napi::Object opts = info[0].As<Napi::Object>();
    try {
      // Read and check the options in this order (the first bad one is the one reported).
      AacOpus::Options o;
      Napi::Value ascV = opts.Get("asc");
      if (!ascV.IsTypedArray() || ascV.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        throw Napi::TypeError::New(env, "AacOpusTranscoder: options.asc must be a Buffer holding the AAC AudioSpecificConfig");
      }
      Napi::Uint8Array ascArr = ascV.As<Napi::Uint8Array>();
      o.asc.assign(ascArr.Data(), ascArr.Data() + ascArr.ByteLength());

      o.bitrate = (int)NumberOption(env, opts, AacOpus::kBitrateRange, o.bitrate);
      o.channels = (int)NumberOption(env, opts, AacOpus::kChannelsRange, o.channels);
      o.complexity = (int)NumberOption(env, opts, AacOpus::kComplexityRange, o.complexity);
      o.volume = NumberOption(env, opts, AacOpus::kVolumeRange, o.volume);
      o.fec = BoolOption(env, opts, "fec", o.fec);
      if (std::optional<double> loss = OptionalNumber(env, opts, AacOpus::kPacketLossPercentRange)) {
        o.packetLossPercent = (int)*loss;  // default (unset): fec ? 10 : 0
      }
      Napi::Value appV = opts.Get("application");
      if (!appV.IsUndefined()) {
        o.application = AacOpus::ParseApplication(appV.IsString() ? appV.As<Napi::String>().Utf8Value() : "");
      }
      core_ = std::make_unique<AacOpus>(std::move(o));
    } catch (...) {
      RethrowAsJs(env);
    }
    Napi::MemoryManagement::AdjustExternalMemory(env, kExternalBytes);
    externalReported_ = true;
  }

  ~AacOpusTranscoder() override {
    // Finalizer path (close() was never called): core_'s destructor frees the native state.
    if (externalReported_) Napi::MemoryManagement::AdjustExternalMemory(Env(), -kExternalBytes);
  }

 private:
  // ------------------------------------------------------------------ option helpers
  static bool Present(const Napi::Value& v) { return !v.IsUndefined() && !v.IsNull(); }

  // The option's value (nullopt when undefined/null): TypeError unless a number, RangeError (from
  // AacOpus::CheckOption) when out of range or, for integer options, fractional.
  static std::optional<double> OptionalNumber(Napi::Env env, Napi::Object o, const AacOpus::OptionRange& range) {
    Napi::Value v = o.Get(range.name);
    if (!Present(v)) return std::nullopt;
    if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("AacOpusTranscoder: options.") + range.name + " must be a number");
    return AacOpus::CheckOption(range, v.As<Napi::Number>().DoubleValue());
  }
  static double NumberOption(Napi::Env env, Napi::Object o, const AacOpus::OptionRange& range, double def) {
    return OptionalNumber(env, o, range).value_or(def);
  }
  static bool BoolOption(Napi::Env env, Napi::Object o, const char* name, bool def) {
    Napi::Value v = o.Get(name);
    if (!Present(v)) return def;
    if (!v.IsBoolean()) throw Napi::TypeError::New(env, std::string("AacOpusTranscoder: options.") + name + " must be a boolean");
    return v.As<Napi::Boolean>().Value();
  }

  // ------------------------------------------------------------------ core → JS packets
  // The packets of one call as a flat array [bytes, size0, timestamp0, size1, timestamp1, …], every packet's bytes
  // in one Buffer: one buffer copy per call, and no object built here with napi_set_named_property (a property-name
  // lookup and a map transition per field); the wrapper (src/native/aac-opus.ts) builds the { data, timestamp }
  // objects. The buffer copy is what is left of this call's cost (docs/performance.md, Room).
  Napi::Array TakePackets(Napi::Env env) {
    const std::vector<AacOpus::Packet>& out = core_->Packets();
    if (out.empty()) return Napi::Array::New(env, 0);
    const std::vector<uint8_t>& bytes = core_->PacketBytes();
    Napi::Array arr = Napi::Array::New(env, 1 + 2 * out.size());
    arr.Set(0u, Napi::Buffer<uint8_t>::Copy(env, bytes.data(), bytes.size()));
    for (size_t i = 0; i < out.size(); i++) {
      arr.Set((uint32_t)(1 + 2 * i), Napi::Number::New(env, (double)out[i].size));
      arr.Set((uint32_t)(2 + 2 * i), Napi::Number::New(env, (double)out[i].timestamp));
    }
    core_->ClearPackets();
    return arr;
  }

  // ------------------------------------------------------------------ methods
  Napi::Value Push(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(env, "push(frame: Buffer, ptsMs: number): frame must be a Buffer");
    }
    if (!info[1].IsNumber()) throw Napi::TypeError::New(env, "push(frame, ptsMs): ptsMs must be a number");
    Napi::Uint8Array data = info[0].As<Napi::Uint8Array>();
    try {
      core_->Push(data.Data(), data.ByteLength(), info[1].As<Napi::Number>().DoubleValue());
    } catch (...) {
      RethrowAsJs(env);
    }
    return TakePackets(env);
  }

  Napi::Value Flush(const Napi::CallbackInfo& info) {
    core_->Flush();
    return TakePackets(info.Env());
  }

  Napi::Value SetVolume(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "setVolume(percent: number)");
    try {
      core_->SetVolume(info[0].As<Napi::Number>().DoubleValue());
    } catch (...) {
      RethrowAsJs(env);
    }
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (!core_->closed()) {
      core_->Close();
      if (externalReported_) {
        Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -kExternalBytes);
        externalReported_ = false;
      }
    }
    return info.Env().Undefined();
  }

  Napi::Value GetVolume(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), core_->volume()); }
  Napi::Value GetErrors(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)core_->errors()); }
  Napi::Value GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), core_->closed()); }
  Napi::Value GetLookahead(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), core_->lookahead()); }
  Napi::Value GetChannels(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), core_->channels()); }
  Napi::Value GetApplication(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), AacOpus::ApplicationName(core_->application()));
  }

  Napi::Value GetStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const AacOpus::Stats s = core_->stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("framesIn", Napi::Number::New(env, (double)s.framesIn));
    o.Set("packetsOut", Napi::Number::New(env, (double)s.packetsOut));
    o.Set("errors", Napi::Number::New(env, (double)s.errors));
    o.Set("resyncs", Napi::Number::New(env, (double)s.resyncs));
    o.Set("gapFills", Napi::Number::New(env, (double)s.gapFills));
    o.Set("decoderResets", Napi::Number::New(env, (double)s.decoderResets));
    o.Set("samplesIn", Napi::Number::New(env, (double)s.samplesIn));
    o.Set("inputSampleRate", Napi::Number::New(env, s.inputSampleRate));
    o.Set("inputChannels", Napi::Number::New(env, s.inputChannels));
    o.Set("bufferedSamples", Napi::Number::New(env, (double)s.bufferedSamples));
    o.Set("lastError", s.lastError.empty() ? env.Null() : Napi::String::New(env, s.lastError));
    return o;
  }

  // ------------------------------------------------------------------ state
  std::unique_ptr<AacOpus> core_;  // set by the constructor (which throws otherwise); never null after
  bool externalReported_ = false;
};

Napi::Value LibraryVersions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const roomgate::AacOpusLibraryVersions v = roomgate::GetAacOpusLibraryVersions();
  Napi::Object o = Napi::Object::New(env);
  o.Set("avcodec", v.avcodec);
  o.Set("swresample", v.swresample);
  o.Set("opus", v.opus);
  return o;
}

}  // namespace

namespace roomgate {

void InitAacOpus(Napi::Env env, Napi::Object exports) {
  InstallAvLogCallback();  // at load, as before; AacOpus's constructor would do it too
  exports.Set("AacOpusTranscoder", AacOpusTranscoder::Define(env));
  exports.Set("libraryVersions", Napi::Function::New(env, LibraryVersions, "libraryVersions"));
}

}  // namespace roomgate
