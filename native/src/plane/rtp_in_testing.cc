// Test-only binding of the engine's WHIP input (rtp_in.h) (`require('media.node').testing.rtpIn`), so
// test/native/rtp-in.test.ts can run RtpIn and the TypeScript rules it ports on the same datagrams and the same
// arrival times, without a socket, a pipe or a clock: what RtpIn hands its RtpOutput is collected and returned.
// Not used by the gateway.
//
//   rtpIn({ profile, key, salt, videoPayloadTypes, audioPayloadTypes, clockStart }, datagrams: Buffer[],
//         arrivals: number[])
//     -> { video: { nalus: Buffer[], ms, keyframe, at }[], audio: { data, timestamp, at }[],
//          nacks: { ssrc, seqs: number[], at }[], keyframeWanted: number, datagrams: Buffer[],
//          counters: { packets, bytes, rejected, unknownPayload, nacked, recovered, gaveUp, tooLate, lastRtpAt },
//          report: { ssrc, video, received, extendedHighest, cumulativeLost, fractionLost, jitter }[] }
//   One RtpIn; datagram i is handed over (a copy: it is decrypted in place) as read off a socket at plane time
//   arrivals[i]. `at` is the arrival that made each output. `datagrams` are those passed on for werift (STUN, DTLS,
//   RTCP), byte for byte. `report` is Report(false) after the last datagram.

#include <napi.h>

#include <arpa/inet.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "rtp_in.h"
#include "rtp_in_napi.h"

namespace roomgate::plane {

namespace {

constexpr const char* kUsage =
    "testing.rtpIn({ profile, key, salt, videoPayloadTypes, audioPayloadTypes, clockStart }, datagrams: Buffer[], "
    "arrivals: number[])";

/** Everything RtpIn puts out, in order, with the arrival that caused it. */
class Collector : public RtpOutput {
 public:
  struct Video {
    std::vector<std::vector<uint8_t>> nals;
    double ms;
    bool keyframe;
    double at;
  };
  struct Audio {
    std::vector<uint8_t> data;
    uint32_t timestamp;
    double at;
  };
  struct Nack {
    uint32_t ssrc;
    std::vector<uint16_t> seqs;
    double at;
  };

  double now = 0;
  std::vector<Video> video;
  std::vector<Audio> audio;
  std::vector<Nack> nacks;
  std::vector<std::vector<uint8_t>> datagrams;
  uint32_t keyframeWanted = 0;

  void OnRtpVideo(const uint8_t* const* nals, const uint32_t* lens, int count, double ms, bool keyframe) override {
    Video v{{}, ms, keyframe, now};
    for (int i = 0; i < count; i++) v.nals.emplace_back(nals[i], nals[i] + lens[i]);
    video.push_back(std::move(v));
  }
  void OnRtpOpus(const uint8_t* data, uint32_t len, uint32_t timestamp) override {
    audio.push_back({std::vector<uint8_t>(data, data + len), timestamp, now});
  }
  void OnRtpDatagram(const uint8_t* data, size_t len, const sockaddr_storage& from) override {
    datagrams.emplace_back(data, data + len);
  }
  void OnRtpNack(uint32_t ssrc, const std::vector<uint16_t>& seqs) override { nacks.push_back({ssrc, seqs, now}); }
  void OnRtpKeyframeWanted() override { keyframeWanted++; }
};

std::vector<uint8_t> BytesOf(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsBuffer()) throw Napi::TypeError::New(env, std::string("testing.rtpIn: ") + what + " must be a Buffer");
  auto b = v.As<Napi::Buffer<uint8_t>>();
  return std::vector<uint8_t>(b.Data(), b.Data() + b.Length());
}

std::vector<uint8_t> PayloadTypes(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string("testing.rtpIn: ") + what + " must be an array of numbers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<uint8_t> out;
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back((uint8_t)a.Get(i).ToNumber().Uint32Value());
  return out;
}

Napi::Buffer<uint8_t> Copy(Napi::Env env, const std::vector<uint8_t>& b) {
  return Napi::Buffer<uint8_t>::Copy(env, b.data(), b.size());
}


Napi::Object Results(Napi::Env env, const Collector& c, RtpIn& in) {
  Napi::Object r = Napi::Object::New(env);
  Napi::Array video = Napi::Array::New(env, c.video.size());
  for (size_t i = 0; i < c.video.size(); i++) {
    const Collector::Video& v = c.video[i];
    Napi::Array nalus = Napi::Array::New(env, v.nals.size());
    for (size_t k = 0; k < v.nals.size(); k++) nalus.Set((uint32_t)k, Copy(env, v.nals[k]));
    Napi::Object o = Napi::Object::New(env);
    o.Set("nalus", nalus);
    o.Set("ms", v.ms);
    o.Set("keyframe", v.keyframe);
    o.Set("at", v.at);
    video.Set((uint32_t)i, o);
  }
  Napi::Array audio = Napi::Array::New(env, c.audio.size());
  for (size_t i = 0; i < c.audio.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("data", Copy(env, c.audio[i].data));
    o.Set("timestamp", (double)c.audio[i].timestamp);
    o.Set("at", c.audio[i].at);
    audio.Set((uint32_t)i, o);
  }
  Napi::Array nacks = Napi::Array::New(env, c.nacks.size());
  for (size_t i = 0; i < c.nacks.size(); i++) {
    Napi::Array seqs = Napi::Array::New(env, c.nacks[i].seqs.size());
    for (size_t k = 0; k < c.nacks[i].seqs.size(); k++) seqs.Set((uint32_t)k, (double)c.nacks[i].seqs[k]);
    Napi::Object o = Napi::Object::New(env);
    o.Set("ssrc", (double)c.nacks[i].ssrc);
    o.Set("seqs", seqs);
    o.Set("at", c.nacks[i].at);
    nacks.Set((uint32_t)i, o);
  }
  Napi::Array datagrams = Napi::Array::New(env, c.datagrams.size());
  for (size_t i = 0; i < c.datagrams.size(); i++) datagrams.Set((uint32_t)i, Copy(env, c.datagrams[i]));
  r.Set("video", video);
  r.Set("audio", audio);
  r.Set("nacks", nacks);
  r.Set("keyframeWanted", (double)c.keyframeWanted);
  r.Set("datagrams", datagrams);
  r.Set("counters", RtpCountersObject(env, in.counters()));
  r.Set("report", RtpReportArray(env, in.Report(false)));
  return r;
}

Napi::Value RunRtpIn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsArray() || !info[2].IsArray()) {
    throw Napi::TypeError::New(env, kUsage);
  }
  Napi::Object o = info[0].As<Napi::Object>();
  Napi::Array packets = info[1].As<Napi::Array>(), arrivals = info[2].As<Napi::Array>();
  if (packets.Length() != arrivals.Length()) throw Napi::TypeError::New(env, "testing.rtpIn: one arrival per datagram");
  RtpInConfig config;
  config.profile = o.Get("profile").ToNumber().Int32Value();
  config.key = BytesOf(env, o.Get("key"), "key");
  config.salt = BytesOf(env, o.Get("salt"), "salt");
  config.videoPayloadTypes = PayloadTypes(env, o.Get("videoPayloadTypes"), "videoPayloadTypes");
  config.audioPayloadTypes = PayloadTypes(env, o.Get("audioPayloadTypes"), "audioPayloadTypes");
  config.clockStart = o.Get("clockStart").ToNumber().DoubleValue();

  Collector out;
  std::unique_ptr<RtpIn> in;
  try {
    in = std::make_unique<RtpIn>(config, &out);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("testing.rtpIn: ") + e.what());
  }
  // Where a socket says the datagrams came from; RtpIn only passes it on with what werift is to read.
  sockaddr_storage from{};
  auto* sin = reinterpret_cast<sockaddr_in*>(&from);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(9);
  sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<uint8_t> datagram;
  for (uint32_t i = 0; i < packets.Length(); i++) {
    datagram = BytesOf(env, packets.Get(i), "each datagram");
    out.now = arrivals.Get(i).ToNumber().DoubleValue();
    in->OnDatagram(datagram.data(), (int)datagram.size(), &from, out.now);
  }
  return Results(env, out, *in);
}

}  // namespace

void AddRtpInTesting(Napi::Env env, Napi::Object exports) {
  exports.Set("rtpIn", Napi::Function::New(env, RunRtpIn, "rtpIn"));
}

}  // namespace roomgate::plane
