// See plane.h.

#include "plane.h"

#include <pthread.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace roomgate::plane {

namespace {
constexpr uint64_t kWakeTag = 0;  // epoll data of the eventfd; pipes use their id (≥ 1)
constexpr uint64_t kTapTag = 1ull << 32;  // a tap's fd: kTapTag | tap id
constexpr size_t kMaxLatencySamples = 1 << 16;
}  // namespace

Plane::Plane(std::function<void()> wake) : wake_(std::move(wake)) {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epfd_ < 0 || wakefd_ < 0) throw std::runtime_error(std::string("RtmpPlane: ") + strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev);
  thread_ = std::thread([this] { Run(); });
}

Plane::~Plane() { Stop(); }

void Plane::Stop() {
  if (stopping_.exchange(true)) return;
  uint64_t one = 1;
  (void)!write(wakefd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  sinks_.clear();
  taps_.clear();
  pipes_.clear();
  close(epfd_);
  close(wakefd_);
}

void Plane::Kick() {
  uint64_t one = 1;
  (void)!write(wakefd_, &one, sizeof one);
}

void Plane::Arm(Pipe* p, bool reading) {
  // Edge-triggered: the pipe drains the socket on each report. A paused pipe is taken out until resumed.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = p->id();
  if (reading) {
    if (epoll_ctl(epfd_, EPOLL_CTL_MOD, p->fd(), &ev) < 0) epoll_ctl(epfd_, EPOLL_CTL_ADD, p->fd(), &ev);
  } else if (p->fd() >= 0) {
    epoll_ctl(epfd_, EPOLL_CTL_DEL, p->fd(), nullptr);
  }
}

uint32_t Plane::AddPipe(std::unique_ptr<Pipe> pipe) {
  Pipe* p = pipe.get();
  pipes_[p->id()] = std::move(pipe);
  nextId_ = std::max(nextId_, p->id() + 1);
  return p->id();
}

void Plane::StartReading(Pipe* p) {
  Arm(p, true);
  // Bytes may already wait in the socket (the JavaScript side stopped reading at a message boundary).
  if (p->OnReadable(NowMs()) != Pipe::kReading) Arm(p, false);
}

Pipe* Plane::pipe(uint32_t id) {
  auto it = pipes_.find(id);
  return it == pipes_.end() ? nullptr : it->second.get();
}

void Plane::ClosePipe(uint32_t id) {
  auto it = pipes_.find(id);
  if (it == pipes_.end()) return;
  Pipe* p = it->second.get();
  if (p->fd() >= 0) epoll_ctl(epfd_, EPOLL_CTL_DEL, p->fd(), nullptr);
  p->Close();
  for (auto& [tapId, e] : taps_) {
    if (e.pipe != id) continue;
    e.pipe = 0;  // the pipe's list goes with it
    e.tap->Detach();
  }
  pipes_.erase(it);
}

void Plane::DetachInput(uint32_t id) {
  Pipe* p = pipe(id);
  if (!p) return;
  if (p->fd() >= 0) epoll_ctl(epfd_, EPOLL_CTL_DEL, p->fd(), nullptr);  // before the caller closes the fd
  p->DetachInput();
}

void Plane::ResumePipe(uint32_t id) {
  Pipe* p = pipe(id);
  if (p && p->rtpIn()) return p->ResumeRtp(NowMs());  // an RTP input is read all along; its frames waited
  if (!p || p->status() != Pipe::kPaused) return;
  // data that arrived while paused raised no edge: StartReading reads it at once
  if (p->Resume(NowMs()) == Pipe::kReading) StartReading(p);
}

uint32_t Plane::AddSink(uint32_t pipeId, std::unique_ptr<Sink> sink, bool video) {
  uint32_t id = nextId_++;
  Sink* s = sink.get();
  if (recordLatency_) s->SetLatencyRecorder(&Plane::Record, this);
  s->SetSendCounters(&sendCounters_);
  sinks_[id] = {std::move(sink), pipeId};
  if (Pipe* p = pipe(pipeId)) p->AddSink(s, video);
  return id;
}

Sink* Plane::sink(uint32_t id) {
  auto it = sinks_.find(id);
  return it == sinks_.end() ? nullptr : it->second.sink.get();
}

Pipe* Plane::pipeOfSink(uint32_t sinkId) {
  auto it = sinks_.find(sinkId);
  return it == sinks_.end() ? nullptr : pipe(it->second.pipe);
}

void Plane::RemoveSink(uint32_t id) {
  auto it = sinks_.find(id);
  if (it == sinks_.end()) return;
  if (Pipe* p = pipe(it->second.pipe)) p->RemoveSink(it->second.sink.get());
  sinks_.erase(it);
}

uint32_t Plane::AddTap(uint32_t pipeId, std::unique_ptr<Tap> tap) {
  uint32_t id = nextId_++;
  tap->SetListener(this, id);
  if (Pipe* p = pipe(pipeId)) p->AddTap(tap.get());
  taps_[id] = {std::move(tap), pipeId};
  return id;
}

Tap* Plane::tap(uint32_t id) {
  auto it = taps_.find(id);
  return it == taps_.end() ? nullptr : it->second.tap.get();
}

void Plane::DetachTap(uint32_t id) {
  auto it = taps_.find(id);
  if (it == taps_.end() || !it->second.tap->movable()) return;
  if (Pipe* p = pipe(it->second.pipe)) p->RemoveTap(it->second.tap.get());
  it->second.pipe = 0;
  it->second.tap->Detach();
}

std::string Plane::AttachTap(uint32_t id, uint32_t pipeId) {
  auto it = taps_.find(id);
  if (it == taps_.end()) return "no such tap";
  Pipe* to = pipe(pipeId);
  if (!to) return "no such pipe";
  // An fd-mode tap's one header was made for its pipe's configs; a file-mode tap starts a new file when they differ,
  // an 'rtmp' tap sends new sequence headers.
  if (!it->second.tap->movable()) return "only a file-mode or 'rtmp' tap can move to another pipe";
  DetachTap(id);
  to->AddTap(it->second.tap.get());
  it->second.pipe = pipeId;
  it->second.tap->OnAudioConfig(to->asc());
  return "";
}

TapEnd Plane::RemoveTap(uint32_t id) {
  auto it = taps_.find(id);
  if (it == taps_.end()) return {};
  if (Pipe* p = pipe(it->second.pipe)) p->RemoveTap(it->second.tap.get());
  // out of the epoll set before the caller closes the fd
  if (it->second.registered) epoll_ctl(epfd_, EPOLL_CTL_DEL, it->second.tap->fd(), nullptr);
  TapEnd end = it->second.tap->Finish();
  taps_.erase(it);
  return end;
}

void Plane::OnTapFile(uint32_t tap, const TapFileInfo& file, TapCut cause) {
  Event e{Event::kTapFile, 0};
  e.tap = tap;
  e.file = file;
  e.text = TapCutName(cause);
  Post(std::move(e));
}

void Plane::OnTapFailed(uint32_t tap, const std::string& path, const std::string& message) {
  Event e{Event::kTapFailed, 0};
  e.tap = tap;
  e.file.path = path;
  e.text = message;
  Post(std::move(e));
}

void Plane::ArmTaps() {
  for (auto& [id, e] : taps_) {
    if (e.armed || !e.pollable || !e.tap->waiting()) continue;
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLONESHOT;
    ev.data.u64 = kTapTag | id;
    int r = e.registered ? epoll_ctl(epfd_, EPOLL_CTL_MOD, e.tap->fd(), &ev) : epoll_ctl(epfd_, EPOLL_CTL_ADD, e.tap->fd(), &ev);
    if (r < 0) {
      e.pollable = false;  // EPERM (a regular file), EEXIST (an fd given to two taps): frames still retry
      continue;
    }
    e.registered = e.armed = true;
  }
}

void Plane::SetLatencyRecording(bool on) {
  recordLatency_ = on;
  for (auto& [id, e] : sinks_) e.sink->SetLatencyRecorder(on ? &Plane::Record : nullptr, this);
}

void Plane::Record(void* ctx, bool video, double receivedAt, double sentAt) {
  auto* self = static_cast<Plane*>(ctx);
  if (self->latency_.size() < kMaxLatencySamples) self->latency_.push_back({video, receivedAt, sentAt});
}

std::vector<LatencySample> Plane::TakeLatency() {
  std::vector<LatencySample> out;
  out.swap(latency_);
  return out;
}

void Plane::Post(Event&& e) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(eventsMu_);
    events_.push_back(std::move(e));
    wake = !wakePending_;
    wakePending_ = true;
  }
  if (wake) wake_();
}

std::vector<Event> Plane::TakeEvents() {
  std::lock_guard<std::mutex> lock(eventsMu_);
  std::vector<Event> out;
  out.swap(events_);
  wakePending_ = false;
  return out;
}

void Plane::Run() {
  // a name operators see in top -H and /proc/<pid>/task (scripts/bench/engine splits CPU by it)
  pthread_setname_np(pthread_self(), "roomgate-plane");
  epoll_event evs[32];
  int timeout = -1;
  while (!stopping_) {
    int n = epoll_wait(epfd_, evs, 32, timeout);
    if (n < 0 && errno != EINTR) break;
    if (stopping_) break;
    std::lock_guard<std::mutex> lock(mu_);
    double now = NowMs();
    for (int i = 0; i < n; i++) {
      if (evs[i].data.u64 == kWakeTag) {
        uint64_t v;
        (void)!read(wakefd_, &v, sizeof v);
        continue;
      }
      if (evs[i].data.u64 & kTapTag) {
        auto it = taps_.find((uint32_t)evs[i].data.u64);
        if (it == taps_.end()) continue;
        it->second.armed = false;
        it->second.tap->Retry();
        continue;
      }
      Pipe* p = pipe((uint32_t)evs[i].data.u64);
      if (!p || p->status() != Pipe::kReading) continue;
      if (p->OnReadable(now) != Pipe::kReading) Arm(p, false);
    }
    ArmTaps();  // bytes the frames just read left waiting
    // GOP replays, paced: the next wake-up is the earliest burst due.
    double next = 0;
    for (auto& [id, e] : sinks_) {
      double due = e.sink->PumpReplay(now);
      if (due > 0 && (next == 0 || due < next)) next = due;
    }
    timeout = next == 0 ? -1 : std::max(0, (int)std::ceil(next - NowMs()));
  }
}

}  // namespace roomgate::plane
