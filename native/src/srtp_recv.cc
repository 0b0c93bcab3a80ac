// roomgate native SRTP receiver: checks and decrypts incoming SRTP packets in place (srtp_protect.cc, Node's
// OpenSSL), for WHIP publishers' media.
//
// Why: werift decrypts each packet with a fresh Node cipher (createDecipheriv, and for AES-CM a second one for the
// HMAC), about a sixth of the gateway's CPU for a 2.5 Mb/s WHIP publisher. Here a session keeps one keyed AES
// context and the HMAC pads for its lifetime, so a packet costs one AES pass and, for AES-CM, one SHA-1. werift keeps
// ICE, DTLS, SRTCP and everything after decryption; src/ingest/whip/native-decrypt.ts puts this in its place.
//
// JS API (see src/native/srtp-recv.ts):
//   new SrtpReceiver({ profile: 1 | 7, key: Buffer(16), salt: Buffer(14 | 12) })   the remote side's master key
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
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "SrtpReceiver",
                                      {InstanceMethod("unprotect", &SrtpReceiver::Unprotect),
                                       InstanceMethod("close", &SrtpReceiver::Close)});
    exports.Set("SrtpReceiver", ctor);
    return exports;
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

Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return SrtpReceiver::Init(env, exports); }

}  // namespace

NODE_API_MODULE(srtp_recv, InitAll)
