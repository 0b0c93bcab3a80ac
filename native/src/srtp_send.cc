// roomgate native SRTP sender: protects a batch of RTP packets (srtp_protect.cc, Node's OpenSSL) and hands them to
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

#include <napi.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <string>

#include "srtp_napi.h"

namespace {

constexpr int kHeaderLen = 12;
// Payloads come from roomgate's packetizers (≤ 1200 bytes); the limit leaves room for the header and SRTP tag
// inside one unfragmented UDP datagram.
constexpr int kMaxPayload = 1400;
constexpr int kSlotLen = kHeaderLen + kMaxPayload + roomgate::kSrtcpMaxTrailer;
constexpr int kBatch = 64;

uint8_t g_slots[kBatch][kSlotLen];

/** A peer's address, from the IP string werift keeps for its selected pair. */
struct Destination {
  sockaddr_storage addr;
  socklen_t len;
};

Destination ParseDestination(Napi::Env env, const char* method, const Napi::Value& hostV, const Napi::Value& portV) {
  std::string host = hostV.As<Napi::String>().Utf8Value();
  uint16_t port = (uint16_t)portV.As<Napi::Number>().Int32Value();
  Destination d;
  memset(&d, 0, sizeof d);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&d.addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&d.addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    d.len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    d.len = sizeof *v6;
  } else {
    throw Napi::Error::New(env, std::string("SrtpSender.") + method + ": not an IP address: " + host);
  }
  return d;
}

/** Up to kBatch datagrams to one destination, handed to the kernel with sendmmsg(2). */
class Batch {
 public:
  explicit Batch(Destination& dst) : dst_(dst) {}

  void Add(uint32_t i, uint8_t* p, int len) {
    iov_[i].iov_base = p;
    iov_[i].iov_len = (size_t)len;
    memset(&msgs_[i], 0, sizeof msgs_[i]);
    msgs_[i].msg_hdr.msg_name = &dst_.addr;
    msgs_[i].msg_hdr.msg_namelen = dst_.len;
    msgs_[i].msg_hdr.msg_iov = &iov_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
  }

  /** Sends messages 0..n-1; returns how many the kernel took (fewer when the socket buffer is full). */
  uint32_t Flush(Napi::Env env, const char* method, int fd, uint32_t n) {
    uint32_t done = 0;
    while (done < n) {
      int r = sendmmsg(fd, msgs_ + done, n - done, MSG_DONTWAIT);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;
        throw Napi::Error::New(env, std::string("SrtpSender.") + method + ": sendmmsg: " + strerror(errno));
      }
      done += (uint32_t)r;
    }
    return done;
  }

 private:
  Destination& dst_;
  mmsghdr msgs_[kBatch];
  iovec iov_[kBatch];
};

class SrtpSender : public Napi::ObjectWrap<SrtpSender> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "SrtpSender",
                                      {InstanceMethod("send", &SrtpSender::Send), InstanceMethod("sendRtcp", &SrtpSender::SendRtcp),
                                       InstanceMethod("close", &SrtpSender::Close)});
    exports.Set("SrtpSender", ctor);
    return exports;
  }

  explicit SrtpSender(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<SrtpSender>(info), session_(roomgate::SessionFromOptions(info, "SrtpSender")) {}

  ~SrtpSender() override { Free(); }

 private:
  void Free() { session_.reset(); }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Free();
    return info.Env().Undefined();
  }

  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!session_) throw Napi::Error::New(env, "SrtpSender: closed");
    if (info.Length() < 6 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber() || !info[3].IsTypedArray() ||
        !info[4].IsArray() || !info[5].IsNumber()) {
      throw Napi::TypeError::New(env, "SrtpSender.send(fd, host, port, meta, payloads, count)");
    }
    int fd = info[0].As<Napi::Number>().Int32Value();
    Destination dst = ParseDestination(env, "send", info[1], info[2]);
    Napi::Uint32Array meta = info[3].As<Napi::Uint32Array>();
    Napi::Array payloads = info[4].As<Napi::Array>();
    uint32_t count = info[5].As<Napi::Number>().Uint32Value();
    if (meta.ElementLength() < (size_t)count * 3 || payloads.Length() < count) {
      throw Napi::RangeError::New(env, "SrtpSender.send: meta or payloads shorter than count");
    }

    Batch batch(dst);
    uint32_t sent = 0;
    for (uint32_t base = 0; base < count; base += kBatch) {
      uint32_t n = count - base < (uint32_t)kBatch ? count - base : (uint32_t)kBatch;
      for (uint32_t i = 0; i < n; i++) {
        uint32_t k = base + i;
        Napi::Value pv = payloads.Get(k);
        if (!pv.IsBuffer()) throw Napi::TypeError::New(env, "SrtpSender.send: payloads must be Buffers");
        auto payload = pv.As<Napi::Buffer<uint8_t>>();
        if (payload.Length() > (size_t)kMaxPayload) {
          throw Napi::RangeError::New(env, "SrtpSender.send: payload of " + std::to_string(payload.Length()) + " bytes exceeds 1400");
        }
        uint8_t* p = g_slots[i];
        uint32_t ssrc = meta[k * 3], ts = meta[k * 3 + 1], w = meta[k * 3 + 2];
        p[0] = 0x80;  // version 2, no padding, no extension, no CSRC
        p[1] = (uint8_t)(((w >> 23) & 1) << 7 | ((w >> 16) & 0x7f));
        p[2] = (uint8_t)(w >> 8);
        p[3] = (uint8_t)w;
        p[4] = (uint8_t)(ts >> 24); p[5] = (uint8_t)(ts >> 16); p[6] = (uint8_t)(ts >> 8); p[7] = (uint8_t)ts;
        p[8] = (uint8_t)(ssrc >> 24); p[9] = (uint8_t)(ssrc >> 16); p[10] = (uint8_t)(ssrc >> 8); p[11] = (uint8_t)ssrc;
        memcpy(p + kHeaderLen, payload.Data(), payload.Length());
        int len = kHeaderLen + (int)payload.Length();
        if (!session_->Protect(p, &len)) throw Napi::Error::New(env, "SrtpSender.send: OpenSSL failed to encrypt");
        batch.Add(i, p, len);
      }
      uint32_t handed = batch.Flush(env, "send", fd, n);
      sent += handed;
      if (handed < n) break;  // socket buffer full: the rest are dropped
    }
    return Napi::Number::New(env, sent);
  }

  // sendRtcp(fd, host, port, packets: Buffer[]) -> number handed to the kernel. Each packet is one RTCP compound
  // packet originated by a sender on this transport (its first SSRC), protected as SRTCP.
  Napi::Value SendRtcp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!session_) throw Napi::Error::New(env, "SrtpSender: closed");
    if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber() || !info[3].IsArray()) {
      throw Napi::TypeError::New(env, "SrtpSender.sendRtcp(fd, host, port, packets)");
    }
    int fd = info[0].As<Napi::Number>().Int32Value();
    Destination dst = ParseDestination(env, "sendRtcp", info[1], info[2]);
    Napi::Array packets = info[3].As<Napi::Array>();
    uint32_t n = packets.Length();
    if (n > (uint32_t)kBatch) throw Napi::RangeError::New(env, "SrtpSender.sendRtcp: more than 64 packets");
    Batch batch(dst);
    for (uint32_t i = 0; i < n; i++) {
      Napi::Value pv = packets.Get(i);
      if (!pv.IsBuffer()) throw Napi::TypeError::New(env, "SrtpSender.sendRtcp: packets must be Buffers");
      auto packet = pv.As<Napi::Buffer<uint8_t>>();
      if (packet.Length() < 8 || packet.Length() > (size_t)(kHeaderLen + kMaxPayload)) {
        throw Napi::RangeError::New(env, "SrtpSender.sendRtcp: an RTCP packet of " + std::to_string(packet.Length()) + " bytes");
      }
      uint8_t* p = g_slots[i];
      memcpy(p, packet.Data(), packet.Length());
      int len = (int)packet.Length();
      if (!session_->ProtectRtcp(p, &len)) throw Napi::Error::New(env, "SrtpSender.sendRtcp: OpenSSL failed to encrypt");
      batch.Add(i, p, len);
    }
    return Napi::Number::New(env, batch.Flush(env, "sendRtcp", fd, n));
  }

  std::unique_ptr<roomgate::SrtpProtector> session_;
};

Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return SrtpSender::Init(env, exports); }

}  // namespace

NODE_API_MODULE(srtp_send, InitAll)
