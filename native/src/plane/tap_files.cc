// See tap_files.h.

#include "tap_files.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

extern "C" {
#include <libavformat/avio.h>
#include <libavutil/error.h>
}

namespace roomgate::plane {

namespace {

// The cut that keeps a file under maxBytes can only come at a keyframe, so the file is cut at the first one where
// what it holds plus the largest GOP seen so far plus this slack (the trailer: MP4's mfra, Matroska's cues; a GOP a
// little bigger than the largest before) would pass maxBytes. A GOP bigger than every one before by more than the
// slack can still take a file past the limit.
constexpr uint64_t kSizeSlack = 64 * 1024;

double WallMs() {
  timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return std::floor((double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6);
}

/** UTC+0, 17 digits: YYYYMMDDhhmmssSSS (TRTC's recording file names). */
std::string UtcStamp(double wallMs) {
  time_t secs = (time_t)(wallMs / 1000);
  tm utc;
  gmtime_r(&secs, &utc);
  char buf[64];  // 18 is enough for the years that can be; the compiler counts every int
  snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02d%03d", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
           utc.tm_hour, utc.tm_min, utc.tm_sec, (int)std::fmod(wallMs, 1000.0));
  return buf;
}

}  // namespace

const char* TapCutName(TapCut cause) {
  switch (cause) {
    case TapCut::kSegment: return "segment";
    case TapCut::kSize: return "size";
    case TapCut::kConfig: return "config";
    case TapCut::kFinish: return "finish";
    case TapCut::kNone: break;
  }
  return "";
}

TapFiles::TapFiles(TapFileOptions options) : options_(std::move(options)) {
  if (options_.prefix.empty()) throw std::runtime_error("file.prefix must name the files' path before the _<UTC> or _<n>");
  if (options_.ext.empty() || options_.ext.find('/') != std::string::npos) {
    throw std::runtime_error("file.ext must be a file name extension without a dot or slash (e.g. 'ts'), not '" + options_.ext + "'");
  }
  if (!(options_.segmentMs >= 0)) throw std::runtime_error("file.segmentMs must be 0 (never) or a positive number of milliseconds");
}

TapFiles::~TapFiles() {
  if (fd_ >= 0) close(fd_);
}

std::string TapFiles::NextPath(double wallMs) {
  if (options_.indexNaming) return options_.prefix + "_" + std::to_string(++index_) + "." + options_.ext;
  return options_.prefix + "_" + UtcStamp(wallMs) + "." + options_.ext;
}

bool TapFiles::Open() {
  double now = WallMs();
  // Two files within one millisecond (tiny segments) would share a name, and O_TRUNC would empty the first.
  if (!options_.indexNaming && now <= lastStampMs_) now = lastStampMs_ + 1;
  lastStampMs_ = now;
  path_ = NextPath(now);
  fd_ = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    error_ = "cannot create the recording file " + path_ + ": " + strerror(errno);
    return false;
  }
  startWallMs_ = now;
  pos_ = 0;
  size_ = sizeAtCut_ = frames_ = 0;
  firstMs_ = endMs_ = 0;
  return true;
}

int TapFiles::WriteThunk(void* self, const uint8_t* buf, int size) { return static_cast<TapFiles*>(self)->Write(buf, size); }

int64_t TapFiles::SeekThunk(void* self, int64_t offset, int whence) { return static_cast<TapFiles*>(self)->Seek(offset, whence); }

int TapFiles::Write(const uint8_t* buf, int size) {
  if (fd_ < 0 || !error_.empty()) return AVERROR(EIO);
  int done = 0;
  while (done < size) {
    ssize_t n = pwrite(fd_, buf + done, (size_t)(size - done), pos_);
    if (n > 0) {
      done += (int)n;
      pos_ += n;
      size_ = std::max(size_, (uint64_t)pos_);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    int code = n < 0 ? errno : ENOSPC;  // a regular file that takes 0 bytes is full
    error_ = "writing the recording file " + path_ + " failed: " + strerror(code);
    return AVERROR(code);  // the muxer stops writing; the tap sees error() and stops
  }
  return size;
}

int64_t TapFiles::Seek(int64_t offset, int whence) {
  if (whence == AVSEEK_SIZE) return (int64_t)size_;
  whence &= ~AVSEEK_FORCE;
  int64_t to = whence == SEEK_SET ? offset : whence == SEEK_CUR ? pos_ + offset : whence == SEEK_END ? (int64_t)size_ + offset : -1;
  if (to < 0) return AVERROR(EINVAL);
  pos_ = to;  // pwrite goes there: the file itself needs no lseek
  return to;
}

void TapFiles::AddFrame(double ms, double stepMs) {
  if (frames_++ == 0) firstMs_ = endMs_ = ms;
  firstMs_ = std::min(firstMs_, ms);
  endMs_ = std::max(endMs_, ms + stepMs);
}

TapCut TapFiles::CutDue(double ms) {
  if (frames_ == 0) return TapCut::kNone;  // never an empty file
  largestStep_ = std::max(largestStep_, size_ - sizeAtCut_);
  sizeAtCut_ = size_;
  if (options_.maxBytes > 0 && size_ + largestStep_ + kSizeSlack > options_.maxBytes) return TapCut::kSize;
  if (options_.segmentMs > 0 && ms - firstMs_ >= options_.segmentMs) return TapCut::kSegment;
  return TapCut::kNone;
}

TapFileInfo TapFiles::Close() {
  TapFileInfo info{path_, startWallMs_, frames_ > 0 ? endMs_ - firstMs_ : 0, size_};
  if (fd_ >= 0) {
    close(fd_);  // a regular file's close reports nothing a write did not (no fsync: that would block the plane)
    closed_++;
  }
  fd_ = -1;
  path_.clear();
  return info;
}

void TapFiles::Abandon() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  path_.clear();
}

}  // namespace roomgate::plane
