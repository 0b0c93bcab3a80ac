// Test-only binding of the receiving side of srtp_protect.cc (`require('media.node').testing.SrtpReceiver`), so
// test/native/srtp-recv.test.ts can check SrtpProtector::Unprotect against werift's independent SRTP protection, and
// test/helpers/fake-transport.ts can read what the plane's sinks send. Not used by the gateway: a WHIP publisher's
// packets are unprotected inside the engine (plane/rtp_in.cc), with the same SrtpProtector.
//
//   new testing.SrtpReceiver({ profile: 1 | 7, key: Buffer(16), salt: Buffer(14 | 12) })   the remote side's master key
//   receiver.unprotect(packet: Buffer) -> number
//       ≥ 12: the packet is now plain RTP of that length (the tag cut off); -1 not an SRTP packet (too short, not
//       version 2); -2 the authentication tag does not match; -3 OpenSSL failed. Throws after close().
//   receiver.close()   frees the session (idempotent; a finalizer does it too).

#include <napi.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "srtp_napi.h"

namespace {

class SrtpReceiver : public Napi::ObjectWrap<SrtpReceiver> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "SrtpReceiver",
                                      {InstanceMethod("unprotect", &SrtpReceiver::Unprotect),
                                       InstanceMethod("close", &SrtpReceiver::Close)});
    exports.Set("SrtpReceiver", ctor);
  }

  explicit SrtpReceiver(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<SrtpReceiver>(info), session_(roomgate::SessionFromOptions(info, "SrtpReceiver")) {}

 private:
  Napi::Value Unprotect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!session_) throw Napi::Error::New(env, "SrtpReceiver.unprotect: closed");
    if (info.Length() < 1 || !info[0].IsBuffer()) throw Napi::TypeError::New(env, "SrtpReceiver.unprotect: packet must be a Buffer");
    auto packet = info[0].As<Napi::Buffer<uint8_t>>();
    if (packet.Length() > 65535) return Napi::Number::New(env, roomgate::SrtpProtector::kNotSrtp);
    return Napi::Number::New(env, session_->Unprotect(packet.Data(), (int)packet.Length()));
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    session_.reset();
    return info.Env().Undefined();
  }

  std::unique_ptr<roomgate::SrtpProtector> session_;
};

}  // namespace

namespace roomgate {

void AddSrtpReceiverTesting(Napi::Env env, Napi::Object testing) { SrtpReceiver::Init(env, testing); }

}  // namespace roomgate
