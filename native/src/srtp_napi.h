// The options object both SRTP classes take (SrtpSender, the test-only SrtpReceiver), `{ profile, key, salt }`, turned into a session (srtp_protect.h).

#pragma once

#include <napi.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "srtp_protect.h"

namespace roomgate {

/** The session for `new <cls>({ profile, key: Buffer(16), salt: Buffer })`; throws a JS error naming `cls`. */
inline std::unique_ptr<SrtpProtector> SessionFromOptions(const Napi::CallbackInfo& info, const std::string& cls) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, cls + ": options object required");
  Napi::Object o = info[0].As<Napi::Object>();
  int profile = o.Get("profile").ToNumber().Int32Value();
  Napi::Value keyV = o.Get("key");
  Napi::Value saltV = o.Get("salt");
  if (!keyV.IsBuffer() || !saltV.IsBuffer()) throw Napi::TypeError::New(env, cls + ": key and salt must be Buffers");
  auto key = keyV.As<Napi::Buffer<uint8_t>>();
  auto salt = saltV.As<Napi::Buffer<uint8_t>>();
  try {
    return std::make_unique<SrtpProtector>(profile, key.Data(), key.Length(), salt.Data(), salt.Length());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, cls + ": " + e.what());
  }
}

}  // namespace roomgate
