// The media addon (native/build/Release/media.node): the media engine's plane (plane.h) as the JavaScript class RtmpPlane,
// the SrtpSender class (../srtp_send.cc) whose sessions the plane's sinks share, and the AAC → Opus transcoder class
// (../aac_opus.cc) whose core the plane's pipes run too. One addon, so that libavcodec's log callback and the SRTP
// sessions exist once in the process. Typed wrapper and the meaning of each call:
// src/native/rtmp-plane.ts. `testing` holds bindings only the tests use (the *_testing.cc files, ../srtp_recv.cc).

#include <napi.h>

#include <cmath>

#include "../srtp_send.h"
#include "chunk_args.h"
#include "plane.h"
#include "rtp_in_napi.h"
#include "shared_limits.h"

namespace roomgate {
void InitAacOpus(Napi::Env env, Napi::Object exports);
void AddSrtpReceiverTesting(Napi::Env env, Napi::Object testing);
namespace plane {
void AddParseTesting(Napi::Env env, Napi::Object exports);
void AddOpusAacTesting(Napi::Env env, Napi::Object exports);
void AddRtpInTesting(Napi::Env env, Napi::Object exports);
}
}  // namespace roomgate

namespace {

using roomgate::Destination;
using namespace roomgate::plane;

uint32_t U32(const Napi::Value& v) { return v.As<Napi::Number>().Uint32Value(); }
double F64(const Napi::Value& v) { return v.As<Napi::Number>().DoubleValue(); }

std::vector<uint8_t> Bytes(const Napi::Value& v) {
  auto b = v.As<Napi::Buffer<uint8_t>>();
  return std::vector<uint8_t>(b.Data(), b.Data() + b.Length());
}

std::vector<std::vector<uint8_t>> BufferList(const Napi::Value& v) {
  std::vector<std::vector<uint8_t>> out;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(Bytes(a.Get(i)));
  return out;
}

Destination DestinationArg(Napi::Env env, const Napi::Value& host, const Napi::Value& port) {
  Destination d;
  std::string h = host.As<Napi::String>().Utf8Value();
  if (!roomgate::ParseDestination(h, (uint16_t)U32(port), &d)) throw Napi::Error::New(env, "RtmpPlane: not an IP address: " + h);
  return d;
}

class RtmpPlane : public Napi::ObjectWrap<RtmpPlane> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(
        env, "RtmpPlane",
        {InstanceMethod("createPipe", &RtmpPlane::CreatePipe), InstanceMethod("attachSocket", &RtmpPlane::AttachSocket),
         InstanceMethod("attachFlv", &RtmpPlane::AttachFlv), InstanceMethod("attachRtp", &RtmpPlane::AttachRtp),
         InstanceMethod("pushSrtp", &RtmpPlane::PushSrtp), InstanceMethod("rtpReport", &RtmpPlane::RtpReport), InstanceMethod("detachInput", &RtmpPlane::DetachInput), InstanceMethod("closePipe", &RtmpPlane::ClosePipe),
         InstanceMethod("resume", &RtmpPlane::Resume), InstanceMethod("setVideoConfig", &RtmpPlane::SetVideoConfig),
         InstanceMethod("setAudioConfig", &RtmpPlane::SetAudioConfig), InstanceMethod("setVolume", &RtmpPlane::SetVolume),
         InstanceMethod("setBlocked", &RtmpPlane::SetBlocked),
         InstanceMethod("pushVideo", &RtmpPlane::PushVideo), InstanceMethod("pushAac", &RtmpPlane::PushAac),
         InstanceMethod("pushOpus", &RtmpPlane::PushOpus), InstanceMethod("pipeStats", &RtmpPlane::PipeStats),
         InstanceMethod("addSink", &RtmpPlane::AddSink), InstanceMethod("removeSink", &RtmpPlane::RemoveSink),
         InstanceMethod("sinkTarget", &RtmpPlane::SinkTarget), InstanceMethod("sinkReplay", &RtmpPlane::SinkReplay),
         InstanceMethod("sinkRetransmit", &RtmpPlane::SinkRetransmit), InstanceMethod("sinkInfo", &RtmpPlane::SinkInfo),
         InstanceMethod("addTap", &RtmpPlane::AddTap), InstanceMethod("removeTap", &RtmpPlane::RemoveTap),
         InstanceMethod("tapStats", &RtmpPlane::TapStats), InstanceMethod("detachTap", &RtmpPlane::DetachTap),
         InstanceMethod("attachTap", &RtmpPlane::AttachTap), InstanceMethod("tapSend", &RtmpPlane::TapSend),
         InstanceMethod("tapConnect", &RtmpPlane::TapConnect),
         InstanceMethod("recordLatency", &RtmpPlane::RecordLatency), InstanceMethod("takeLatency", &RtmpPlane::TakeLatency),
         InstanceMethod("sendStats", &RtmpPlane::SendStats), InstanceMethod("now", &RtmpPlane::Now), InstanceMethod("close", &RtmpPlane::Close)});
    exports.Set("RtmpPlane", f);
  }

  explicit RtmpPlane(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RtmpPlane>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(env, "new RtmpPlane(onEvents)");
    tsfn_ = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "RtmpPlane events", 0, 1);
    tsfn_.Unref(env);  // an open plane does not keep the process alive
    try {
      plane_ = std::make_unique<Plane>([this] { tsfn_.NonBlockingCall(this, &RtmpPlane::Deliver); });
    } catch (const std::exception& e) {
      tsfn_.Release();
      throw Napi::Error::New(env, e.what());
    }
  }

  ~RtmpPlane() override { Shutdown(); }

 private:
  void Shutdown() {
    if (!plane_) return;
    plane_->Stop();
    plane_.reset();
    tsfn_.Release();
  }

  /** Runs on the JavaScript thread: hands the waiting events to the callback as one array. */
  static void Deliver(Napi::Env env, Napi::Function callback, RtmpPlane* self) {
    if (!self->plane_) return;
    std::vector<Event> events = self->plane_->TakeEvents();
    if (events.empty()) return;
    Napi::Array arr = Napi::Array::New(env, events.size());
    for (size_t i = 0; i < events.size(); i++) {
      Event& e = events[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("kind", (double)e.kind);
      o.Set("pipe", (double)e.pipe);
      o.Set("type", (double)e.type);
      o.Set("timestamp", (double)e.timestamp);
      o.Set("body", Napi::Buffer<uint8_t>::Copy(env, e.body.data(), e.body.size()));
      o.Set("text", e.text);
      o.Set("number", e.number);
      if (e.kind == Event::kTapFile || e.kind == Event::kTapFailed) {
        o.Set("tap", (double)e.tap);
        o.Set("path", e.file.path);
        o.Set("startWallMs", e.file.startWallMs);
        o.Set("durationMs", e.file.durationMs);
        o.Set("bytes", (double)e.file.bytes);
      }
      arr.Set((uint32_t)i, o);
    }
    callback.Call({arr});
  }

  Plane& plane(Napi::Env env) {
    if (!plane_) throw Napi::Error::New(env, "RtmpPlane: closed");
    return *plane_;
  }

  // createPipe({ opusBitrate, opusComplexity }) -> pipe id (no socket yet; frames come through push*)
  Napi::Value CreatePipe(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = info[0].As<Napi::Object>();
    AudioOptions audio;
    audio.bitrate = (int)U32(o.Get("opusBitrate"));
    audio.complexity = (int)U32(o.Get("opusComplexity"));
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    return Napi::Number::New(env, p.AddPipe(std::make_unique<Pipe>(p.NextPipeId(), audio, &p)));
  }

  // attachSocket(pipe, { fd, chunkSize, streams, maxChunkSize, maxMessageSize, maxChunkStreams }) (chunk_args.h)
  Napi::Value AttachSocket(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = info[1].As<Napi::Object>();
    ChunkHandOver h = ChunkHandOverArg(o, "RtmpPlane.attachSocket");
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    Pipe* pipe = PipeArg(env, p, info[0]);
    pipe->AttachSocket(o.Get("fd").As<Napi::Number>().Int32Value(), h.limits, h.chunkSize, h.streams);
    p.StartReading(pipe);
    return env.Undefined();
  }

  // attachFlv(pipe, { fd, leftover: Buffer, base, firstTs, maxTagSize }): a pull task's ffmpeg output, at a tag boundary
  Napi::Value AttachFlv(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = info[1].As<Napi::Object>();
    auto leftover = o.Get("leftover").As<Napi::Buffer<uint8_t>>();
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    Pipe* pipe = PipeArg(env, p, info[0]);
    if (pipe->fd() >= 0) throw Napi::Error::New(env, "RtmpPlane.attachFlv: the pipe already reads an input");
    Pipe::Status s = pipe->AttachFlv(o.Get("fd").As<Napi::Number>().Int32Value(), U32(o.Get("maxTagSize")), F64(o.Get("base")),
                                     F64(o.Get("firstTs")), leftover.Data(), leftover.Length(), NowMs());
    if (s == Pipe::kReading) p.StartReading(pipe);
    return env.Undefined();
  }

  // attachRtp(pipe, { fd, profile, key, salt, videoPayloadTypes, audioPayloadTypes, clockStart }): a WHIP publisher's RTP
  Napi::Value AttachRtp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = info[1].As<Napi::Object>();
    RtpInConfig c;
    c.profile = o.Get("profile").As<Napi::Number>().Int32Value();
    c.key = Bytes(o.Get("key"));
    c.salt = Bytes(o.Get("salt"));
    for (const char* field : {"videoPayloadTypes", "audioPayloadTypes"}) {
      Napi::Array a = o.Get(field).As<Napi::Array>();
      auto& list = field[0] == 'v' ? c.videoPayloadTypes : c.audioPayloadTypes;
      for (uint32_t i = 0; i < a.Length(); i++) list.push_back((uint8_t)U32(a.Get(i)));
    }
    c.clockStart = F64(o.Get("clockStart"));
    int fd = o.Get("fd").As<Napi::Number>().Int32Value();
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    Pipe* pipe = PipeArg(env, p, info[0]);
    if (pipe->fd() >= 0 || pipe->rtpIn()) throw Napi::Error::New(env, "RtmpPlane.attachRtp: the pipe already reads an input");
    try {
      pipe->AttachRtp(fd, c);
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string("RtmpPlane.attachRtp: ") + e.what());
    }
    if (fd >= 0) p.StartReading(pipe);
    p.ArmTaps();
    return env.Undefined();
  }

  // pushSrtp(pipe, packet): an SRTP packet werift read off a socket the engine does not read (decrypted in place)
  Napi::Value PushSrtp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto b = info[1].As<Napi::Buffer<uint8_t>>();
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    if (Pipe* pipe = p.pipe(U32(info[0]))) pipe->PushSrtp(b.Data(), (int)b.Length(), NowMs());
    p.ArmTaps();
    return env.Undefined();
  }

  // rtpReport(pipe, advance) -> { counters…, sources: [...] } | null (no RTP input)
  Napi::Value RtpReport(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    Pipe* pipe = p.pipe(U32(info[0]));
    RtpIn* in = pipe ? pipe->rtpIn() : nullptr;
    if (!in) return env.Null();
    Napi::Object o = RtpCountersObject(env, in->counters());
    o.Set("sources", RtpReportArray(env, in->Report(info[1].ToBoolean())));
    return o;
  }

  Napi::Value DetachInput(const Napi::CallbackInfo& info) {
    Plane& p = plane(info.Env());
    std::lock_guard<std::mutex> lock(p.mutex());
    p.DetachInput(U32(info[0]));
    return info.Env().Undefined();
  }

  Napi::Value ClosePipe(const Napi::CallbackInfo& info) {
    Plane& p = plane(info.Env());
    std::lock_guard<std::mutex> lock(p.mutex());
    p.ClosePipe(U32(info[0]));
    return info.Env().Undefined();
  }

  Napi::Value Resume(const Napi::CallbackInfo& info) {
    Plane& p = plane(info.Env());
    std::lock_guard<std::mutex> lock(p.mutex());
    p.ResumePipe(U32(info[0]));
    p.ArmTaps();
    return info.Env().Undefined();
  }

  /** The pipe `id`, or a JS error (the caller holds the lock). */
  Pipe* PipeArg(Napi::Env env, Plane& p, const Napi::Value& id) {
    Pipe* pipe = p.pipe(U32(id));
    if (!pipe) throw Napi::Error::New(env, "RtmpPlane: no such pipe");
    return pipe;
  }

  // setVideoConfig(pipe, naluLengthSize, sps: Buffer[], pps: Buffer[])
  Napi::Value SetVideoConfig(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ParamSets sets{BufferList(info[2]), BufferList(info[3])};
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    PipeArg(env, p, info[0])->SetVideoConfig((int)U32(info[1]), std::move(sets));
    return env.Undefined();
  }

  // setAudioConfig(pipe, asc: Buffer | null, volume) -> "" or why the decoder refused the config
  Napi::Value SetAudioConfig(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    Pipe* pipe = PipeArg(env, p, info[0]);
    if (!info[1].IsBuffer()) {
      pipe->ClearAudioConfig();
      return Napi::String::New(env, "");
    }
    return Napi::String::New(env, pipe->SetAudioConfig(Bytes(info[1]), F64(info[2])));
  }

  Napi::Value SetVolume(const Napi::CallbackInfo& info) {
    Plane& p = plane(info.Env());
    std::lock_guard<std::mutex> lock(p.mutex());
    PipeArg(info.Env(), p, info[0])->SetVolume(F64(info[1]));
    return info.Env().Undefined();
  }

  // setBlocked(pipe, audio, video)
  Napi::Value SetBlocked(const Napi::CallbackInfo& info) {
    Plane& p = plane(info.Env());
    std::lock_guard<std::mutex> lock(p.mutex());
    PipeArg(info.Env(), p, info[0])->SetBlocked(info[1].ToBoolean(), info[2].ToBoolean());
    return info.Env().Undefined();
  }

  // pushVideo(pipe, nalus: Buffer[], ptsMs, keyframe)
  Napi::Value PushVideo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array a = info[1].As<Napi::Array>();
    uint32_t n = a.Length();
    std::vector<Napi::Buffer<uint8_t>> keep;
    std::vector<const uint8_t*> nals;
    std::vector<uint32_t> lens;
    for (uint32_t i = 0; i < n; i++) {
      keep.push_back(a.Get(i).As<Napi::Buffer<uint8_t>>());
      nals.push_back(keep.back().Data());
      lens.push_back((uint32_t)keep.back().Length());
    }
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    PipeArg(env, p, info[0])->PushVideo(nals.data(), lens.data(), (int)n, F64(info[2]), info[3].ToBoolean(), NowMs());
    p.ArmTaps();
    return env.Undefined();
  }

  // pushAac(pipe, data, dtsMs) / pushOpus(pipe, data, rtpTimestamp)
  Napi::Value PushAac(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto b = info[1].As<Napi::Buffer<uint8_t>>();
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    PipeArg(env, p, info[0])->PushAac(b.Data(), (uint32_t)b.Length(), F64(info[2]), NowMs());
    p.ArmTaps();
    return env.Undefined();
  }

  Napi::Value PushOpus(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto b = info[1].As<Napi::Buffer<uint8_t>>();
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    PipeArg(env, p, info[0])->PushOpus(b.Data(), (uint32_t)b.Length(), U32(info[2]), NowMs());
    p.ArmTaps();
    return env.Undefined();
  }

  Napi::Value PipeStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    Pipe* pipe = p.pipe(U32(info[0]));
    if (!pipe) return env.Null();
    const PipeCounters& c = pipe->counters();
    Napi::Object o = Napi::Object::New(env);
    o.Set("videoFrames", (double)c.videoFrames);
    o.Set("audioFrames", (double)c.audioFrames);
    o.Set("keyframes", (double)c.keyframes);
    o.Set("videoBytes", (double)c.videoBytes);
    o.Set("audioBytes", (double)c.audioBytes);
    o.Set("maxGopMs", c.maxGopMs);
    o.Set("lastInputAt", c.lastInputAt);
    o.Set("lastSourceTs", c.lastSourceTs);
    o.Set("lastOutTs", c.lastOutTs);
    return o;
  }

  // addSink(pipe, { video, sender: SrtpSender, ssrc, payloadType, clockRate, fd, host, port, consent,
  //                 lastSeq, lastTs, lastWall, replay }) -> sink id
  Napi::Value AddSink(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = info[1].As<Napi::Object>();
    auto srtp = roomgate::SrtpSessionOf(o.Get("sender"));
    if (!srtp) throw Napi::TypeError::New(env, "RtmpPlane.addSink: sender must be an SrtpSender of this addon");
    bool video = o.Get("video").ToBoolean();
    Numbering from;
    from.lastSeq = o.Get("lastSeq").As<Napi::Number>().Int32Value();
    from.lastTs = U32(o.Get("lastTs"));
    from.lastWall = F64(o.Get("lastWall"));
    auto sink = std::make_unique<Sink>(video, std::move(srtp), U32(o.Get("ssrc")), (uint8_t)U32(o.Get("payloadType")),
                                       U32(o.Get("clockRate")), from);
    sink->SetTarget(o.Get("fd").As<Napi::Number>().Int32Value(), DestinationArg(env, o.Get("host"), o.Get("port")),
                    o.Get("consent").ToBoolean());
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    Pipe* pipe = PipeArg(env, p, info[0]);
    Sink* s = sink.get();
    uint32_t id = p.AddSink(pipe->id(), std::move(sink), video);
    if (video && o.Get("replay").ToBoolean()) {
      s->StartReplay(pipe->gop(), NowMs());
      if (s->replaying()) p.Kick();
    }
    return Napi::Number::New(env, id);
  }

  /** Removes a sink; returns its numbering [lastSeq, lastTs, lastWall] for whoever sends to the viewer next. */
  Napi::Value RemoveSink(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    Sink* s = p.sink(U32(info[0]));
    if (!s) return env.Null();
    Numbering n = s->numbering();
    p.RemoveSink(U32(info[0]));
    Napi::Array a = Napi::Array::New(env, 3);
    a.Set(0u, (double)n.lastSeq);
    a.Set(1u, (double)n.lastTs);
    a.Set(2u, n.lastWall);
    return a;
  }

  // sinkTarget(sink, sender: SrtpSender, fd, host, port, consent)
  Napi::Value SinkTarget(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto srtp = roomgate::SrtpSessionOf(info[1]);
    if (!srtp) throw Napi::TypeError::New(env, "RtmpPlane.sinkTarget: sender must be an SrtpSender of this addon");
    Destination d = DestinationArg(env, info[3], info[4]);
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    if (Sink* s = p.sink(U32(info[0]))) {
      s->SetSession(std::move(srtp));
      s->SetTarget(info[2].As<Napi::Number>().Int32Value(), d, info[5].ToBoolean());
    }
    return env.Undefined();
  }

  // sinkReplay(sink): a picture-loss request from an RTMP publisher's viewer is served the cached GOP.
  Napi::Value SinkReplay(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    Sink* s = p.sink(U32(info[0]));
    Pipe* pipe = p.pipeOfSink(U32(info[0]));
    if (!s || !pipe || !s->video()) return Napi::Boolean::New(env, false);
    s->StartReplay(pipe->gop(), NowMs());
    if (s->replaying()) p.Kick();
    return Napi::Boolean::New(env, true);
  }

  // sinkRetransmit(sink, seqs: number[])
  Napi::Value SinkRetransmit(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array a = info[1].As<Napi::Array>();
    std::vector<uint16_t> seqs;
    for (uint32_t i = 0; i < a.Length() && i < 512; i++) seqs.push_back((uint16_t)U32(a.Get(i)));
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    if (Sink* s = p.sink(U32(info[0]))) s->Retransmit(seqs.data(), seqs.size());
    return env.Undefined();
  }

  Napi::Value SinkInfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    Sink* s = p.sink(U32(info[0]));
    if (!s) return env.Null();
    const SinkCounters& c = s->counters();
    Napi::Object o = Napi::Object::New(env);
    o.Set("packetCount", (double)c.packetCount);
    o.Set("octetCount", (double)c.octetCount);
    o.Set("rtpTimestamp", (double)c.rtpTimestamp);
    o.Set("lastSendAt", c.lastSendAt);
    return o;
  }

  // addTap(pipe, { fd | file: { prefix, naming: 'stamp' | 'index', ext, segmentMs, maxBytes }, video,
  //               audio: 'aac' | 'opus' | '', format: 'mpegts' | 'matroska' | 'mp4' | 'adts', width?, height? }) -> tap id.
  // fd mode writes the muxer header now, from the pipe's current configs (JavaScript makes a new tap when they
  // change); file mode opens its first file at the first frame that can start one.
  Napi::Value AddTap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[1].IsObject()) throw Napi::TypeError::New(env, "RtmpPlane.addTap(pipe, { fd or file, video, audio, format })");
    Napi::Object o = info[1].As<Napi::Object>();
    TapOptions t;
    if (o.Get("file").IsObject()) {
      t.toFiles = true;
      t.file = FileOptionsArg(env, o.Get("file").As<Napi::Object>());
    } else if (o.Get("fd").IsNumber()) {
      t.fd = o.Get("fd").As<Napi::Number>().Int32Value();
    } else if (o.Get("format").IsString() && o.Get("format").As<Napi::String>().Utf8Value() == "rtmp") {
      t.fd = -1;  // the session is still being published: tapConnect gives the socket
    } else {
      throw Napi::TypeError::New(env, "RtmpPlane.addTap: give fd (a file descriptor number) or file ({ prefix, naming, ext, segmentMs, maxBytes })");
    }
    t.video = o.Get("video").ToBoolean();
    std::string audio = o.Get("audio").IsString() ? o.Get("audio").As<Napi::String>().Utf8Value() : "";
    if (audio == "aac") t.audio = TapOptions::kAac;
    else if (audio == "opus") t.audio = TapOptions::kOpus;
    else if (audio == "opus-to-aac") t.audio = TapOptions::kAac, t.opusToAac = true;
    else if (!audio.empty()) throw Napi::Error::New(env, "RtmpPlane.addTap: audio must be 'aac', 'opus', 'opus-to-aac' or '', not '" + audio + "'");
    if (o.Get("format").IsString()) t.format = o.Get("format").As<Napi::String>().Utf8Value();
    if (o.Get("width").IsNumber()) t.width = o.Get("width").As<Napi::Number>().Int32Value();
    if (o.Get("height").IsNumber()) t.height = o.Get("height").As<Napi::Number>().Int32Value();
    if (o.Get("rtmp").IsObject()) {
      Napi::Object r = o.Get("rtmp").As<Napi::Object>();
      double sid = r.Get("streamId").IsNumber() ? r.Get("streamId").As<Napi::Number>().DoubleValue() : -1;
      double chunk = r.Get("chunkSize").IsNumber() ? r.Get("chunkSize").As<Napi::Number>().DoubleValue() : -1;
      if (!(sid >= 0 && sid <= 0xFFFFFFFF) || !(chunk >= 1 && chunk <= 0x7FFFFFFF)) {
        throw Napi::TypeError::New(env, "RtmpPlane.addTap: rtmp must be { streamId (createStream's), chunkSize (the announced one, ≥ 1) }");
      }
      t.rtmpStreamId = (uint32_t)sid;
      t.rtmpChunkSize = (uint32_t)chunk;
    }
    if (t.format == "rtmp" && (t.toFiles || (t.fd >= 0 && !o.Get("rtmp").IsObject()))) {
      throw Napi::TypeError::New(env, "RtmpPlane.addTap: format 'rtmp' writes to a socket: give fd with rtmp: { streamId, chunkSize }, or neither (tapConnect later)");
    }
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    Pipe* pipe = PipeArg(env, p, info[0]);
    std::unique_ptr<Tap> tap;
    try {
      tap = std::make_unique<Tap>(t, pipe->sets(), pipe->asc());
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string("RtmpPlane.addTap: ") + e.what());
    }
    uint32_t id = p.AddTap(pipe->id(), std::move(tap));
    p.ArmTaps();  // the header may be waiting
    return Napi::Number::New(env, id);
  }

  static TapFileOptions FileOptionsArg(Napi::Env env, Napi::Object f) {
    TapFileOptions out;
    auto text = [&](const char* key) { return f.Get(key).IsString() ? f.Get(key).As<Napi::String>().Utf8Value() : std::string(); };
    auto number = [&](const char* key) {
      Napi::Value v = f.Get(key);
      if (v.IsUndefined()) return 0.0;
      double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
      if (!(d >= 0) || !std::isfinite(d)) {
        throw Napi::TypeError::New(env, std::string("RtmpPlane.addTap: file.") + key + " must be a number ≥ 0 (0: no limit)");
      }
      return d;
    };
    out.prefix = text("prefix");
    out.ext = text("ext");
    std::string naming = text("naming");
    if (naming != "stamp" && naming != "index") {
      throw Napi::TypeError::New(env, "RtmpPlane.addTap: file.naming must be 'stamp' (<prefix>_<UTC>.<ext>) or 'index' (<prefix>_<n>.<ext>)");
    }
    out.indexNaming = naming == "index";
    out.segmentMs = number("segmentMs");
    out.maxBytes = (uint64_t)number("maxBytes");
    return out;
  }

  /** The facts of a closed file, as JavaScript sees them. */
  static Napi::Object FileInfo(Napi::Env env, const TapFileInfo& f) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("path", f.path);
    o.Set("startWallMs", f.startWallMs);
    o.Set("durationMs", f.durationMs);
    o.Set("bytes", (double)f.bytes);
    return o;
  }

  /**
   * Finishes a tap (trailer, a last non-blocking flush, or the last file closed): { leftBytes, file } — file the last
   * file's facts (file mode; null when none was open) — or null for an unknown tap.
   */
  Napi::Value RemoveTap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    if (!p.tap(U32(info[0]))) return env.Null();
    TapEnd end = p.RemoveTap(U32(info[0]));
    Napi::Object o = Napi::Object::New(env);
    o.Set("leftBytes", (double)end.leftBytes);
    o.Set("file", end.hasFile ? Napi::Value(FileInfo(env, end.file)) : env.Null());
    return o;
  }

  // tapSend(tap, bytes): whole RTMP messages onto an 'rtmp' tap's socket, behind the media queued -> false once the
  // tap failed or for an unknown tap (throws for another format)
  Napi::Value TapSend(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[1].IsBuffer()) throw Napi::TypeError::New(env, "RtmpPlane.tapSend(tap, buffer)");
    auto bytes = info[1].As<Napi::Buffer<uint8_t>>();
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    Tap* tap = p.tap(U32(info[0]));
    if (!tap) return Napi::Boolean::New(env, false);
    if (tap->options().format != "rtmp") throw Napi::Error::New(env, "RtmpPlane.tapSend: only an 'rtmp' tap takes bytes");
    bool ok = tap->Send(bytes.Data(), bytes.Length());
    p.ArmTaps();  // what the socket did not take waits for it to be writable
    return Napi::Boolean::New(env, ok);
  }

  // tapConnect(tap, fd, streamId, chunkSize): an 'rtmp' tap made without an fd gets its published socket; the
  // messages it kept since the last keyframe go first. Throws a sentence; false for an unknown tap.
  Napi::Value TapConnect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    Tap* tap = p.tap(U32(info[0]));
    if (!tap) return Napi::Boolean::New(env, false);
    try {
      tap->Connect(info[1].As<Napi::Number>().Int32Value(), U32(info[2]), U32(info[3]));
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string("RtmpPlane.tapConnect: ") + e.what());
    }
    p.ArmTaps();
    return Napi::Boolean::New(env, true);
  }

  // detachTap(tap): a file-mode or 'rtmp' tap off its pipe, its file (session) left open -> false for an unknown tap
  Napi::Value DetachTap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    Tap* tap = p.tap(U32(info[0]));
    if (!tap) return Napi::Boolean::New(env, false);
    if (!tap->movable()) throw Napi::Error::New(env, "RtmpPlane.detachTap: only a file-mode or 'rtmp' tap can leave its pipe (remove an fd-mode tap)");
    p.DetachTap(U32(info[0]));
    return Napi::Boolean::New(env, true);
  }

  // attachTap(tap, pipe): a file-mode tap onto a pipe; its file goes on (a new one when the codec config differs)
  Napi::Value AttachTap(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    std::string why = p.AttachTap(U32(info[0]), U32(info[1]));
    if (!why.empty()) throw Napi::Error::New(env, "RtmpPlane.attachTap: " + why);
    return env.Undefined();
  }

  Napi::Value TapStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Plane& p = plane(env);
    std::lock_guard<std::mutex> lock(p.mutex());
    Tap* tap = p.tap(U32(info[0]));
    if (!tap) return env.Null();
    const roomgate::plane::TapStats& s = tap->stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("videoFrames", (double)s.videoFrames);
    o.Set("audioFrames", (double)s.audioFrames);
    o.Set("bytesWritten", (double)s.bytesWritten);
    o.Set("droppedFrames", (double)s.droppedFrames);
    o.Set("pendingBytes", (double)s.pendingBytes);
    o.Set("lastError", s.lastError);
    o.Set("path", s.path);
    o.Set("files", (double)s.files);
    return o;
  }

  Napi::Value RecordLatency(const Napi::CallbackInfo& info) {
    Plane& p = plane(info.Env());
    std::lock_guard<std::mutex> lock(p.mutex());
    p.SetLatencyRecording(info[0].ToBoolean());
    return info.Env().Undefined();
  }

  /** [video(1/0), receivedAt, sentAt, …] since the last call. */
  Napi::Value TakeLatency(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Plane& p = plane(env);
    std::vector<LatencySample> samples;
    {
      std::lock_guard<std::mutex> lock(p.mutex());
      samples = p.TakeLatency();
    }
    Napi::Float64Array a = Napi::Float64Array::New(env, samples.size() * 3);
    for (size_t i = 0; i < samples.size(); i++) {
      a[i * 3] = samples[i].video ? 1 : 0;
      a[i * 3 + 1] = samples[i].receivedAt;
      a[i * 3 + 2] = samples[i].sentAt;
    }
    return a;
  }

  // sendStats() -> { bufferFull, otherError, droppedBehind, droppedNoConsent }: RTP packets all sinks lost on the way
  // out since the plane started (send_counters.h). Read without the plane's lock: a scrape never waits for a send.
  Napi::Value SendStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const SendCounters& c = plane(env).sendCounters();
    Napi::Object o = Napi::Object::New(env);
    o.Set("bufferFull", (double)c.bufferFull.load(std::memory_order_relaxed));
    o.Set("otherError", (double)c.otherError.load(std::memory_order_relaxed));
    o.Set("droppedBehind", (double)c.droppedBehind.load(std::memory_order_relaxed));
    o.Set("droppedNoConsent", (double)c.droppedNoConsent.load(std::memory_order_relaxed));
    return o;
  }

  Napi::Value Now(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), NowMs()); }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown();
    return info.Env().Undefined();
  }

  Napi::ThreadSafeFunction tsfn_;
  std::unique_ptr<Plane> plane_;
};

/** sharedLimits() -> { gopCacheMaxPackets, ... }: the shared_limits.h this addon was compiled with. */
Napi::Value SharedLimits(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
#define ROOMGATE_SET_LIMIT(key, name) o.Set(#key, (double)roomgate::shared::name);
  ROOMGATE_SHARED_LIMITS(ROOMGATE_SET_LIMIT)
#undef ROOMGATE_SET_LIMIT
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("sharedLimits", Napi::Function::New(env, SharedLimits, "sharedLimits"));
  roomgate::InitAacOpus(env, exports);
  roomgate::InitSrtpSender(env, exports);
  RtmpPlane::Init(env, exports);
  Napi::Object testing = Napi::Object::New(env);
  AddParseTesting(env, testing);
  AddOpusAacTesting(env, testing);
  AddRtpInTesting(env, testing);
  roomgate::AddSrtpReceiverTesting(env, testing);
  exports.Set("testing", testing);
  return exports;
}

}  // namespace

NODE_API_MODULE(media, Init)
