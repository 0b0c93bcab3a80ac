// See tap.h. Runs under the plane's mutex, on the thread that handles the frame.

#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <stdexcept>

#include "../aac_opus_core.h"
#include "shared_limits.h"

namespace roomgate::plane {

namespace {

/** Muxed bytes a tap keeps for a slow reader before it drops frames (shared-limits.json: tapQueueBytes). */
constexpr size_t kQueueMax = shared::kTapQueueBytes;
constexpr size_t kQueueSlack = 1 << 20;  // the frame that crosses the bound still goes in whole
constexpr AVRational kMs = {1, 1000};
constexpr AVRational kOpusClock = {1, 48000};
// One frame when no two frames have been seen yet: 30 fps video, a 20 ms Opus packet (AAC: from its sample rate).
constexpr int64_t kVideoStepMs = 33;
constexpr int64_t kOpusStep = 960;
// A distance between two frames longer than this is a gap (drops, a pause), not a frame's length.
constexpr int64_t kMaxStepMs = 250;
// An audio-only 'rtmp' tap waiting for its session keeps this much (a video tap keeps the GOP).
constexpr uint32_t kKeepAudioMs = 1000;

bool SameSets(const ParamSets& a, const ParamSets& b) { return a.sps == b.sps && a.pps == b.pps; }

}  // namespace

int64_t Tap::Clock::Map(int64_t in) {
  if (rebase) {
    // A re-attach: the new source's first frame comes one frame after the last one out, whatever its own clock says.
    if (lastOut != INT64_MIN) offset = lastOut + step - in;
    lastIn = INT64_MIN;
    rebase = false;
  }
  if (lastIn != INT64_MIN && in > lastIn && in - lastIn <= kMaxStepMs * perMs) step = in - lastIn;
  lastIn = in;
  int64_t out = in + offset;
  if (lastOut != INT64_MIN && out <= lastOut) out = lastOut + 1;  // dts must rise
  lastOut = out;
  return out;
}

Tap::Tap(const TapOptions& options, const ParamSets& sets, const std::vector<uint8_t>& pipeAsc)
    : options_(options), sets_(sets), asc_(pipeAsc), waitKey_(options.video) {
  InstallAvLogCallback();  // libavformat's log stays quiet, like the transcoder's
  CheckTapStreams(options_);
  if (options_.opusToAac) {
    if (options_.audio != TapOptions::kAac) throw std::runtime_error("opus-to-aac needs the tap's audio to be AAC");
    opusAac_ = std::make_unique<roomgate::OpusAac>();
    asc_ = opusAac_->Asc();  // the muxer's AAC header is the transcoder's, not the pipe's (it has none for Opus)
  }
  const std::vector<uint8_t>& asc = asc_;
  if (options_.video && sets.sps.empty()) throw std::runtime_error("the pipe has no H.264 configuration (SPS/PPS) yet");
  int rate = 48000, channels = 2;
  if (options_.audio == TapOptions::kAac && !ParseAsc(asc, &rate, &channels)) {
    throw std::runtime_error(asc.empty() ? "the pipe has no AAC configuration yet" : "the pipe's AAC AudioSpecificConfig is malformed");
  }
  videoClock_.step = kVideoStepMs;
  if (options_.audio == TapOptions::kOpus) audioClock_ = {48, kOpusStep};
  else audioClock_.step = std::max<int64_t>(1, std::llround(1024000.0 / rate));
  if (options_.toFiles) {
    files_ = std::make_unique<TapFiles>(options_.file);
    return;
  }
  if (options_.format == "rtmp") {
    rtmp_ = std::make_unique<RtmpTags>();
    if (options_.fd >= 0) OpenFd(options_.fd);
    return;
  }
  OpenFd(options_.fd);
  try {
    muxer_ = std::make_unique<TapMuxer>(options_, sets, asc, TapMuxer::Output{this, &Tap::OnMuxed, nullptr});
  } catch (...) {
    close(fd_);  // the destructor does not run for a constructor that throws
    throw;
  }
}

void Tap::OpenFd(int fd) {
  struct stat st;
  if (fstat(fd, &st) < 0) throw std::runtime_error("fd " + std::to_string(fd) + " is not open: " + strerror(errno));
  socket_ = S_ISSOCK(st.st_mode);
  // Never block the plane: a full pipe or socket makes write() return EAGAIN and the bytes wait in the queue.
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) throw std::runtime_error(std::string("fcntl: ") + strerror(errno));
  // Our own descriptor of the same file: if the caller's fd is closed first (Node closes a child's stdin when the
  // child exits), the tap writes to the file it was given, never to whatever reuses that number. Closed in ~Tap.
  fd_ = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (fd_ < 0) throw std::runtime_error(std::string("dup: ") + strerror(errno));
}

void Tap::Connect(int fd, uint32_t streamId, uint32_t chunkSize) {
  if (!rtmp_ || fd_ >= 0) throw std::runtime_error("only an 'rtmp' tap made without an fd can be connected, once");
  OpenFd(fd);
  options_.rtmpStreamId = streamId;
  options_.rtmpChunkSize = chunkSize;
  rtmpNew_.swap(kept_);
  kept_.clear();
  keptBytes_ = 0;
  Emit();
}

Tap::~Tap() {
  listener_ = nullptr;  // the plane is going: no events
  if (files_ && muxer_ && !failed_) {
    TapFileInfo info;
    CloseFile(TapCut::kFinish, &info);
  }
  muxer_.reset();
  if (fd_ >= 0) close(fd_);
}

bool Tap::Admit(bool keyframe) {
  Flush();  // bytes left over from the previous frames first
  if (failed_ || finished_) return false;
  bool full = Pending() >= kQueueMax;
  if (options_.video) {
    if (keyframe && !full) {
      waitKey_ = false;
      started_ = true;
      return true;
    }
    if (full) waitKey_ = true;
    if (!waitKey_) return true;
    if (started_) stats_.droppedFrames++;  // frames before the first keyframe are not drops: the file starts there
    return false;
  }
  if (!full) return true;
  stats_.droppedFrames++;
  return false;
}

void Tap::OnVideo(const uint8_t* const* nals, const uint32_t* lens, int count, double ms, bool keyframe, const ParamSets& sets) {
  if (!options_.video) return;
  if (keyframe && files_ && !SameSets(sets, sets_)) sets_ = sets;  // the next file's header (and a 'config' cut)
  if (!Admit(keyframe)) return;
  if (rtmp_) {
    // the sequence header carries SPS/PPS (rtmp_out.h): the NAL units go as they came
    rtmpNew_.clear();
    // until the session is published, each keyframe brings its own sequence headers: what is kept starts there
    if (keyframe && fd_ < 0) rtmp_->Forget();
    uint32_t at = (uint32_t)videoClock_.Map(std::llround(ms));
    if (rtmp_->Video(nals, lens, count, at, keyframe, sets, &rtmpNew_)) stats_.videoFrames++;
    Emit();
    return;
  }
  annexB_.clear();
  if (keyframe) {
    bool inBand = false;  // a keyframe JavaScript pushed may carry its own SPS
    for (int i = 0; i < count; i++) inBand = inBand || (lens[i] > 0 && (nals[i][0] & 0x1f) == 7);
    if (!inBand) {
      for (const auto* list : {&sets.sps, &sets.pps}) {
        for (const auto& set : *list) AppendNal(annexB_, set.data(), set.size());
      }
    }
  }
  for (int i = 0; i < count; i++) AppendNal(annexB_, nals[i], lens[i]);
  Mux(true, std::llround(ms), keyframe, annexB_.data(), annexB_.size());
}

void Tap::OnAac(const uint8_t* data, uint32_t len, double ms) {
  if (options_.audio == TapOptions::kAac && !opusAac_) WriteAac(data, len, ms);
}

void Tap::WriteAac(const uint8_t* data, uint32_t len, double ms) {
  if (!Admit(false)) return;
  Mux(false, std::llround(ms), true, data, len);
}

void Tap::OnOpus(const uint8_t* data, uint32_t len, uint32_t ts48k) {
  if (options_.audio != TapOptions::kOpus && !opusAac_) return;
  // Unwrapped here, before any drop, so a long gap of dropped frames cannot hide a wrap.
  opusTs_ = haveOpusTs_ ? opusTs_ + (int32_t)(ts48k - lastOpusRaw_) : (int64_t)ts48k;
  haveOpusTs_ = true;
  lastOpusRaw_ = ts48k;
  if (opusAac_) {
    // AAC frames on the Opus packets' clock (gaps filled by the transcoder), written like a pipe's own AAC
    aacOut_.clear();
    opusAac_->Push(data, len, opusTs_, &aacOut_);
    WriteTranscoded();
    return;
  }
  if (!Admit(false)) return;
  Mux(false, opusTs_, true, data, len);
}

void Tap::WriteTranscoded() {
  for (const auto& f : aacOut_) WriteAac(f.data.data(), (uint32_t)f.data.size(), (double)f.pts48k / 48.0);
  aacOut_.clear();
}

void Tap::OnAudioConfig(const std::vector<uint8_t>& asc) {
  if ((files_ || rtmp_) && options_.audio == TapOptions::kAac && !opusAac_ && !asc.empty()) asc_ = asc;
}

bool Tap::Send(const uint8_t* data, size_t size) {
  if (!rtmp_ || fd_ < 0 || failed_ || finished_) return false;
  Flush();
  OnMuxed(this, data, (int)size);
  return !failed_;
}

void Tap::Emit() {
  if (fd_ < 0) return Keep();
  rtmpBuf_.clear();
  for (const RtmpOutMessage& m : rtmpNew_) ChunkRtmpMessage(m, options_.rtmpStreamId, options_.rtmpChunkSize, &rtmpBuf_);
  rtmpNew_.clear();
  if (!rtmpBuf_.empty()) OnMuxed(this, rtmpBuf_.data(), (int)rtmpBuf_.size());
}

void Tap::Keep() {
  for (RtmpOutMessage& m : rtmpNew_) {
    // A keyframe starts what is kept (with the sequence headers made just before it); audio alone keeps a second.
    if (m.keyframe) {
      size_t headers = 0;
      while (headers < kept_.size() && kept_[kept_.size() - 1 - headers].body.size() > 1 &&
             kept_[kept_.size() - 1 - headers].body[1] == 0)
        headers++;
      kept_.erase(kept_.begin(), kept_.end() - (long)headers);
      keptBytes_ = 0;
      for (const RtmpOutMessage& k : kept_) keptBytes_ += k.body.size();
    }
    keptBytes_ += m.body.size();
    kept_.push_back(std::move(m));
  }
  rtmpNew_.clear();
  if (!options_.video) {
    while (kept_.size() > 1 && kept_.back().ms - kept_.front().ms > kKeepAudioMs) {
      keptBytes_ -= kept_.front().body.size();
      kept_.erase(kept_.begin());
    }
  }
  if (keptBytes_ > kQueueMax) {
    // a GOP too long to keep: start again at the next keyframe, its sequence headers made again
    kept_.clear();
    keptBytes_ = 0;
    rtmp_->Forget();
    waitKey_ = options_.video;
  }
}

void Tap::Detach() {
  if (!movable()) return;
  if (opusAac_) {
    // what the transcoder holds belongs to this pipe's timeline; a later Push starts a new one
    opusAac_->Flush(&aacOut_);
    WriteTranscoded();
  }
  videoClock_.rebase = audioClock_.rebase = true;
  haveOpusTs_ = false;  // the next pipe's Opus clock has nothing to do with this one's
  waitKey_ = options_.video;
  started_ = false;
}

void Tap::Mux(bool video, int64_t ts, bool keyframe, const uint8_t* data, size_t size) {
  Clock& clock = video ? videoClock_ : audioClock_;
  int64_t out = clock.Map(ts);
  if (rtmp_) {  // audio only: video went by OnVideo
    rtmpNew_.clear();
    rtmp_->Aac(data, (uint32_t)size, (uint32_t)(out / clock.perMs), asc_, &rtmpNew_);
    stats_.audioFrames++;
    return Emit();
  }
  double ms = (double)out / (double)clock.perMs;
  if (files_ && !Route(video, ms, keyframe, data, size)) return;
  int stream = video ? muxer_->videoStream() : muxer_->audioStream();
  int64_t fileTs = out - std::llround(fileBaseMs_ * (double)clock.perMs);
  std::string error = muxer_->Write(stream, std::max<int64_t>(0, fileTs), clock.step, clock.perMs == 1 ? kMs : kOpusClock,
                                    data, size, keyframe);
  if (!error.empty()) stats_.lastError = error;  // that frame is lost; the next may go
  (video ? stats_.videoFrames : stats_.audioFrames)++;
  if (!files_) {
    muxer_->FlushIo();  // a frame's bytes reach the fd now, not when 32 KiB have gathered
    return;
  }
  if (!files_->error().empty()) return FailFiles(files_->error());
  if (error.empty()) files_->AddFrame(ms, (double)clock.step / (double)clock.perMs);
}

bool Tap::Route(bool video, double ms, bool keyframe, const uint8_t* data, size_t size) {
  if (failed_) return false;
  bool cutPoint = options_.video ? video && keyframe : true;
  if (!muxer_) return cutPoint && OpenFile(ms, data, size);
  if (cutPoint) {
    muxer_->Cut();  // the file then holds every frame so far: its size is exact, and so is a killed reader's view
    if (!files_->error().empty()) {
      FailFiles(files_->error());
      return false;
    }
    TapCut cause = VideoStale() || AudioStale() ? TapCut::kConfig : files_->CutDue(ms);
    if (cause != TapCut::kNone) {
      TapFileInfo info;
      return CloseFile(cause, &info) && OpenFile(ms, data, size);
    }
  }
  if (!video && AudioStale()) {
    stats_.droppedFrames++;  // the open file's audio header is for another config: audio waits for the next file
    return false;
  }
  return true;
}

bool Tap::VideoStale() const {
  // MPEG-TS carries SPS/PPS in band (ahead of every keyframe): a new resolution goes on in the same file.
  return options_.video && options_.format != "mpegts" && !SameSets(sets_, fileSets_);
}

bool Tap::AudioStale() const {
  // Every container here takes the ASC from its header (MPEG-TS and ADTS make each frame's ADTS header from it).
  return options_.audio == TapOptions::kAac && asc_ != fileAsc_;
}

bool Tap::OpenFile(double ms, const uint8_t* data, size_t size) {
  if (!files_->Open()) {
    FailFiles(files_->error());
    return false;
  }
  TapStreams streams = options_;
  // The track header's picture size from the keyframe's own SPS: the size JavaScript gave may be a previous pipe's.
  if (options_.video) H264Dimensions(data, size, &streams.width, &streams.height);
  try {
    muxer_ = std::make_unique<TapMuxer>(streams, sets_, asc_, files_->output());
  } catch (const std::exception& e) {
    std::string path = files_->path();
    FailFiles(files_->error().empty() ? "cannot start the recording file " + path + ": " + e.what() : files_->error());
    return false;
  }
  if (!files_->error().empty()) {
    FailFiles(files_->error());
    return false;
  }
  fileSets_ = sets_;
  fileAsc_ = asc_;
  bool ownTimeline = options_.format == "mp4" || options_.format == "matroska";
  fileBaseMs_ = ownTimeline ? ms : 0;  // MPEG-TS segments (HLS) continue one timeline; ADTS has none
  return true;
}

bool Tap::CloseFile(TapCut cause, TapFileInfo* info) {
  muxer_->Finish();
  muxer_.reset();
  if (!files_->error().empty()) {
    FailFiles(files_->error());
    return false;
  }
  closedBytes_ += files_->bytes();
  *info = files_->Close();
  if (listener_) listener_->OnTapFile(id_, *info, cause);
  return true;
}

void Tap::FailFiles(const std::string& message) {
  failed_ = true;
  stats_.lastError = message;
  std::string path = files_->path();
  muxer_.reset();    // no trailer: the file cannot take it
  files_->Abandon();  // what was written stays on disk; no tap-file event for it
  if (listener_) listener_->OnTapFailed(id_, path, message);
}

int Tap::OnMuxed(void* opaque, const uint8_t* buf, int size) {
  auto* self = static_cast<Tap*>(opaque);
  if (self->failed_ || size <= 0) return size;
  size_t done = self->Pending() == 0 ? self->WriteSome(buf, (size_t)size) : 0;  // no copy when the fd keeps up
  if (!self->failed_ && done < (size_t)size) {
    // Room for the whole bound at once: growing by doubling would copy megabytes inside one frame's call.
    if (self->queue_.capacity() < kQueueMax) self->queue_.reserve(kQueueMax + kQueueSlack);
    self->queue_.insert(self->queue_.end(), buf + done, buf + size);
  }
  return size;  // whatever the fd does, the muxer carries on
}

size_t Tap::WriteSome(const uint8_t* buf, size_t size) {
  size_t done = 0;
  while (done < size) {
    // A socket whose peer has gone would raise SIGPIPE: MSG_NOSIGNAL. For a pipe, Node ignores SIGPIPE (it sets
    // SIG_IGN at start-up), so write() fails with EPIPE instead.
    ssize_t n = socket_ ? send(fd_, buf + done, size - done, MSG_NOSIGNAL | MSG_DONTWAIT) : write(fd_, buf + done, size - done);
    if (n > 0) {
      done += (size_t)n;
      stats_.bytesWritten += (uint64_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) Fail(strerror(errno));
    break;
  }
  return done;
}

void Tap::Flush() {
  if (failed_ || Pending() == 0) return;
  head_ += WriteSome(queue_.data() + head_, Pending());
  if (head_ == queue_.size()) {
    // Caught up: give the reservation back (only pages the backlog touched were ever resident).
    std::vector<uint8_t>().swap(queue_);
    head_ = 0;
  } else if (head_ >= queue_.size() / 2) {
    queue_.erase(queue_.begin(), queue_.begin() + (long)head_);  // amortised: the front is at least half
    head_ = 0;
  }
}

void Tap::Fail(const std::string& why) {
  // The reader is gone (EPIPE, ECONNRESET, …): stop for good; what was queued is lost.
  failed_ = true;
  stats_.lastError = why;
  lost_ += Pending();
  std::vector<uint8_t>().swap(queue_);
  head_ = 0;
}

TapEnd Tap::Finish() {
  TapEnd end;
  if (finished_) return end;
  finished_ = true;
  if (opusAac_ && !failed_) {
    finished_ = false;  // the last AAC frames still go through Admit
    opusAac_->Flush(&aacOut_);
    WriteTranscoded();
    finished_ = true;
  }
  if (files_) {
    if (muxer_ && !failed_) end.hasFile = CloseFile(TapCut::kFinish, &end.file);
    return end;
  }
  if (!failed_) {
    if (muxer_) muxer_->Finish();
    Flush();
  }
  end.leftBytes = Pending() + lost_;
  return end;
}

const TapStats& Tap::stats() {
  stats_.pendingBytes = Pending();
  if (files_) {
    stats_.bytesWritten = closedBytes_ + (files_->isOpen() ? files_->bytes() : 0);
    stats_.path = files_->path();
    stats_.files = files_->closedFiles();
  }
  return stats_;
}

}  // namespace roomgate::plane
