// The media engine's plane: every publisher's pipe and every consumer's sink or tap (pipe.h, sink.h, tap.h), and one
// thread per gateway that reads every handed-over input — an RTMP socket, a pull task's ffmpeg output — and runs each
// frame from there to the viewers without waking the JavaScript event loop. Frames JavaScript pushes (WHIP, the
// first tags of a pull run) run the same way in the pushing thread. JavaScript stays the control plane: it creates
// pipes and sinks, answers picture-loss and NACK requests, keeps ICE/DTLS (werift), and receives the rare messages
// the plane does not handle (sequence headers, commands, end of input) as events.
//
// One mutex guards all pipes and sinks. The thread holds it while it handles what one epoll_wait reported;
// JavaScript's calls take it briefly. Nothing here blocks while holding it except the send system calls.

#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "pipe.h"
#include "send_counters.h"
#include "sink.h"

namespace roomgate::plane {

struct LatencySample {
  bool video;
  double receivedAt, sentAt;
};

class Plane : public EventSink, public TapListener {
 public:
  /** `wake` is called (from the plane's thread) when events are waiting; TakeEvents() collects them. */
  explicit Plane(std::function<void()> wake);
  ~Plane() override;

  std::mutex& mutex() { return mu_; }

  // All of the following must be called with mutex() held.
  uint32_t AddPipe(std::unique_ptr<Pipe> pipe);
  /** Starts reading a pipe's socket (Pipe::AttachSocket done). */
  void StartReading(Pipe* pipe);
  Pipe* pipe(uint32_t id);
  /**
   * Stops reading a pipe's socket for good and forgets it; its sinks stay until removed, and so do its taps: a
   * file-mode tap is detached (Tap::Detach, its file stays open for AttachTap), an fd-mode tap gets no more frames.
   */
  void ClosePipe(uint32_t id);
  /** Stops reading a pipe's input (a pull task's run ended); the pipe and its consumers stay for the next input. */
  void DetachInput(uint32_t id);
  void ResumePipe(uint32_t id);
  uint32_t AddSink(uint32_t pipeId, std::unique_ptr<Sink> sink, bool video);
  Sink* sink(uint32_t id);
  /** The pipe a sink was added to, or null when that pipe is closed. */
  Pipe* pipeOfSink(uint32_t sinkId);
  void RemoveSink(uint32_t id);
  /** A tap on a pipe (fd mode: its muxer header already written); its id. */
  uint32_t AddTap(uint32_t pipeId, std::unique_ptr<Tap> tap);
  Tap* tap(uint32_t id);
  /** Takes a file-mode tap off its pipe (Tap::Detach); nothing when it is on none. */
  void DetachTap(uint32_t id);
  /** Puts a file-mode tap on a pipe (off the one it is on first); "" or why not. */
  std::string AttachTap(uint32_t id, uint32_t pipeId);
  /** Detaches and finishes a tap (tap.h Finish): the bytes left unwritten, the last file. The fd is the caller's to close. */
  TapEnd RemoveTap(uint32_t id);
  /** Waits (one shot, in the epoll set) for the fd of each tap with bytes waiting to be writable; after frames. */
  void ArmTaps();
  /** Schedules the replay pump (after Sink::StartReplay from JavaScript). */
  void Kick();
  void SetLatencyRecording(bool on);
  std::vector<LatencySample> TakeLatency();
  uint32_t NextPipeId() { return nextId_; }
  /** Packets every sink of this plane lost on the way out; atomics, readable without mutex(). */
  const SendCounters& sendCounters() const { return sendCounters_; }

  /** Events posted since the last call (takes its own lock). */
  std::vector<Event> TakeEvents();
  void Post(Event&& e) override;
  void OnTapFile(uint32_t tap, const TapFileInfo& file, TapCut cause) override;
  void OnTapFailed(uint32_t tap, const std::string& path, const std::string& message) override;

  /** Joins the thread; pipes and sinks are dropped. Idempotent. */
  void Stop();

 private:
  void Run();
  void Arm(Pipe* p, bool reading);
  static void Record(void* ctx, bool video, double receivedAt, double sentAt);

  std::mutex mu_;
  int epfd_ = -1;
  int wakefd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::function<void()> wake_;
  uint32_t nextId_ = 1;
  std::map<uint32_t, std::unique_ptr<Pipe>> pipes_;
  struct SinkEntry {
    std::unique_ptr<Sink> sink;
    uint32_t pipe;
  };
  std::map<uint32_t, SinkEntry> sinks_;
  struct TapEntry {
    std::unique_ptr<Tap> tap;
    uint32_t pipe;            // 0: on no pipe (detached)
    bool registered = false;  // in the epoll set (EPOLLONESHOT: disarmed after each report)
    bool armed = false;
    bool pollable = true;     // false for a regular file: epoll refuses it, and its writes never wait anyway
  };
  std::map<uint32_t, TapEntry> taps_;
  SendCounters sendCounters_;
  bool recordLatency_ = false;
  std::vector<LatencySample> latency_;

  std::mutex eventsMu_;
  std::vector<Event> events_;
  bool wakePending_ = false;
};

}  // namespace roomgate::plane
