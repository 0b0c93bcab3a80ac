// roomgate native SRTP sender (part of the media addon): protects a batch of RTP packets (srtp_protect.cc, Node's OpenSSL) and hands them to
// the kernel with one sendmmsg(2) on an existing UDP socket (werift's ICE socket, by file descriptor).
//
// Why: werift sends each RTP packet through a clone, a JS header serializer, a fresh Node AES cipher and one
// dgram.send each — about 3 % of a core for one 2.5 Mb/s viewer. Here a frame's packets are written once into
// preallocated buffers, encrypted in place and sent in one system call. werift keeps ICE, DTLS and RTCP; this
// only carries RTP, with the SRTP master key werift negotiated (each side of SRTP has its own key, and RTCP has
// its own index, so werift's SRTCP is unaffected).
//
// JS API (see src/native/srtp-send.ts):
//   new SrtpSender({ profile: 1 | 7, key: Buffer(16), salt: Buffer(14 | 12) })
//       profile: the DTLS-SRTP protection profile id (1 AES_CM_128_HMAC_SHA1_80, 7 AEAD_AES_128_GCM).
//   sender.send(fd, host, port, meta: Uint32Array, payloads: Buffer[], count) -> number handed to the kernel
//       packet i: meta[3i] SSRC, meta[3i+1] RTP timestamp, meta[3i+2] seq | payloadType << 16 | marker << 23.
//       Fewer than count means the socket buffer was full (the rest are dropped, as a router would).
//       Throws on other socket errors, on a payload too large, or after close().
//   sender.sendRtcp(fd, host, port, packets: Buffer[]) -> number handed to the kernel
//       each packet one RTCP compound packet (sender report + SDES) from a sender on this transport, sent as SRTCP.
//   sender.close()   frees the SRTP session (idempotent; a finalizer does it too).

#include "srtp_send.h"

#include <string>

#include "rtp_batch.h"
#include "srtp_napi.h"

namespace roomgate {
namespace {

constexpr int kSlotLen = kRtpHeaderLen + kMaxRtpPayload + kSrtcpMaxTrailer;

// Packets are built here on the JavaScript thread (one call at a time); the data plane has its own.
uint8_t g_slots[kBatchSize][kSlotLen];

Destination DestinationArg(Napi::Env env, const char* method, const Napi::Value& hostV, const Napi::Value& portV) {
  std::string host = hostV.As<Napi::String>().Utf8Value();
  Destination d;
  if (!ParseDestination(host, (uint16_t)portV.As<Napi::Number>().Int32Value(), &d)) {
    throw Napi::Error::New(env, std::string("SrtpSender.") + method + ": not an IP address: " + host);
  }
  return d;
}

uint32_t FlushOrThrow(Napi::Env env, const char* method, DatagramBatch& batch, int fd, uint32_t n) {
  int r = batch.Flush(fd, n);
  if (r < 0) throw Napi::Error::New(env, std::string("SrtpSender.") + method + ": sendmmsg: " + strerror(-r));
  return (uint32_t)r;
}

class SrtpSender : public Napi::ObjectWrap<SrtpSender> {
 public:
  static Napi::FunctionReference* ctor;

  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "SrtpSender",
                                   {InstanceMethod("send", &SrtpSender::Send), InstanceMethod("sendRtcp", &SrtpSender::SendRtcp),
                                    InstanceMethod("close", &SrtpSender::Close)});
    ctor = new Napi::FunctionReference(Napi::Persistent(f));
    exports.Set("SrtpSender", f);
  }

  explicit SrtpSender(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SrtpSender>(info), shared_(std::make_shared<SharedSrtp>()) {
    shared_->protector = SessionFromOptions(info, "SrtpSender");
  }

  ~SrtpSender() override { Free(); }

  std::shared_ptr<SharedSrtp> shared() const { return shared_; }

 private:
  void Free() {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->protector.reset();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Free();
    return info.Env().Undefined();
  }

  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 6 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber() || !info[3].IsTypedArray() ||
        !info[4].IsArray() || !info[5].IsNumber()) {
      throw Napi::TypeError::New(env, "SrtpSender.send(fd, host, port, meta, payloads, count)");
    }
    int fd = info[0].As<Napi::Number>().Int32Value();
    Destination dst = DestinationArg(env, "send", info[1], info[2]);
    Napi::Uint32Array meta = info[3].As<Napi::Uint32Array>();
    Napi::Array payloads = info[4].As<Napi::Array>();
    uint32_t count = info[5].As<Napi::Number>().Uint32Value();
    if (meta.ElementLength() < (size_t)count * 3 || payloads.Length() < count) {
      throw Napi::RangeError::New(env, "SrtpSender.send: meta or payloads shorter than count");
    }
    std::lock_guard<std::mutex> lock(shared_->mu);
    SrtpProtector* session = shared_->protector.get();
    if (!session) throw Napi::Error::New(env, "SrtpSender: closed");

    DatagramBatch batch(dst);
    uint32_t sent = 0;
    for (uint32_t base = 0; base < count; base += kBatchSize) {
      uint32_t n = count - base < (uint32_t)kBatchSize ? count - base : (uint32_t)kBatchSize;
      for (uint32_t i = 0; i < n; i++) {
        uint32_t k = base + i;
        Napi::Value pv = payloads.Get(k);
        if (!pv.IsBuffer()) throw Napi::TypeError::New(env, "SrtpSender.send: payloads must be Buffers");
        auto payload = pv.As<Napi::Buffer<uint8_t>>();
        if (payload.Length() > (size_t)kMaxRtpPayload) {
          throw Napi::RangeError::New(env, "SrtpSender.send: payload of " + std::to_string(payload.Length()) + " bytes exceeds 1400");
        }
        uint8_t* p = g_slots[i];
        int len = WriteRtp(p, meta[k * 3], meta[k * 3 + 1], meta[k * 3 + 2], payload.Data(), (uint32_t)payload.Length());
        if (!session->Protect(p, &len)) throw Napi::Error::New(env, "SrtpSender.send: OpenSSL failed to encrypt");
        batch.Add(i, p, len);
      }
      uint32_t handed = FlushOrThrow(env, "send", batch, fd, n);
      sent += handed;
      if (handed < n) break;  // socket buffer full: the rest are dropped
    }
    return Napi::Number::New(env, sent);
  }

  // sendRtcp(fd, host, port, packets: Buffer[]) -> number handed to the kernel. Each packet is one RTCP compound
  // packet originated by a sender on this transport (its first SSRC), protected as SRTCP.
  Napi::Value SendRtcp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber() || !info[3].IsArray()) {
      throw Napi::TypeError::New(env, "SrtpSender.sendRtcp(fd, host, port, packets)");
    }
    int fd = info[0].As<Napi::Number>().Int32Value();
    Destination dst = DestinationArg(env, "sendRtcp", info[1], info[2]);
    Napi::Array packets = info[3].As<Napi::Array>();
    uint32_t n = packets.Length();
    if (n > (uint32_t)kBatchSize) throw Napi::RangeError::New(env, "SrtpSender.sendRtcp: more than 64 packets");
    std::lock_guard<std::mutex> lock(shared_->mu);
    SrtpProtector* session = shared_->protector.get();
    if (!session) throw Napi::Error::New(env, "SrtpSender: closed");
    DatagramBatch batch(dst);
    for (uint32_t i = 0; i < n; i++) {
      Napi::Value pv = packets.Get(i);
      if (!pv.IsBuffer()) throw Napi::TypeError::New(env, "SrtpSender.sendRtcp: packets must be Buffers");
      auto packet = pv.As<Napi::Buffer<uint8_t>>();
      if (packet.Length() < 8 || packet.Length() > (size_t)(kRtpHeaderLen + kMaxRtpPayload)) {
        throw Napi::RangeError::New(env, "SrtpSender.sendRtcp: an RTCP packet of " + std::to_string(packet.Length()) + " bytes");
      }
      uint8_t* p = g_slots[i];
      memcpy(p, packet.Data(), packet.Length());
      int len = (int)packet.Length();
      if (!session->ProtectRtcp(p, &len)) throw Napi::Error::New(env, "SrtpSender.sendRtcp: OpenSSL failed to encrypt");
      batch.Add(i, p, len);
    }
    return Napi::Number::New(env, FlushOrThrow(env, "sendRtcp", batch, fd, n));
  }

  std::shared_ptr<SharedSrtp> shared_;
};

Napi::FunctionReference* SrtpSender::ctor = nullptr;

}  // namespace

void InitSrtpSender(Napi::Env env, Napi::Object exports) { SrtpSender::Init(env, exports); }

std::shared_ptr<SharedSrtp> SrtpSessionOf(Napi::Value value) {
  if (!value.IsObject() || !SrtpSender::ctor) return nullptr;
  Napi::Object o = value.As<Napi::Object>();
  if (!o.InstanceOf(SrtpSender::ctor->Value())) return nullptr;
  return SrtpSender::Unwrap(o)->shared();
}

}  // namespace roomgate
