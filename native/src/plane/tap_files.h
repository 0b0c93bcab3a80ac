// The recording files of a file-mode tap (tap.h): how they are named, the one open now (written directly — a regular
// file's write does not wait for a reader, so there is no queue), its size and media span, and when the next one is
// due. The tap decides where the cut points are (video keyframes; every frame of an audio-only tap) and muxes; this
// part only keeps the files. Runs under the plane's mutex like the tap.

#pragma once

#include <cstdint>
#include <string>

#include "tap_muxer.h"

namespace roomgate::plane {

struct TapFileOptions {
  std::string prefix;        // the path up to "_<UTC>" / "_<n>"; its directory is made by the caller
  bool indexNaming = false;  // "<prefix>_<n>.<ext>" (n = 1, 2, …) instead of "<prefix>_<UTC>.<ext>"
  std::string ext;           // without the dot
  double segmentMs = 0;      // a new file at the first cut point this much media time into the current one (0: never)
  uint64_t maxBytes = 0;     // a new file at the first cut point once the current one nears this size (0: no limit)
};

/** A closed (or, for stats, the current) file's facts. */
struct TapFileInfo {
  std::string path;
  double startWallMs = 0;  // Unix time (ms) its first frame was written
  double durationMs = 0;   // media time: last frame's timestamp − first's + one frame
  uint64_t bytes = 0;
};

enum class TapCut { kNone, kSegment, kSize, kConfig, kFinish };
/** "segment", "size", "config", "finish" (the tap-file event's cause). */
const char* TapCutName(TapCut cause);

class TapFiles {
 public:
  /** Throws std::runtime_error with a sentence for options that cannot name a file. */
  explicit TapFiles(TapFileOptions options);
  ~TapFiles();
  TapFiles(const TapFiles&) = delete;
  TapFiles& operator=(const TapFiles&) = delete;

  bool isOpen() const { return fd_ >= 0; }
  /** The open file's path ("" when none). */
  const std::string& path() const { return path_; }
  uint64_t closedFiles() const { return closed_; }
  uint64_t bytes() const { return size_; }
  /** A write or seek failed: the sentence naming the path and the system's reason ("" while all is well). */
  const std::string& error() const { return error_; }

  /** Opens the next file (O_TRUNC: a name reused is overwritten); false with a sentence in error(). */
  bool Open();
  /** The open file as a muxer's output (seekable: MP4 and Matroska write their index at the end). */
  TapMuxer::Output output() { return {this, &TapFiles::WriteThunk, &TapFiles::SeekThunk}; }
  /** A frame went into the file: `ms` its timestamp, `stepMs` one frame's length (the media span). */
  void AddFrame(double ms, double stepMs);
  bool empty() const { return frames_ == 0; }
  /**
   * At a cut point, with everything muxed so far in the file (TapMuxer::Cut): the reason to start the next file here
   * (kSize or kSegment), or kNone. `ms` is the cut point's timestamp.
   */
  TapCut CutDue(double ms);
  /** Closes the open file; its facts. The muxer's trailer must be written first. */
  TapFileInfo Close();
  /** Closes the open file after a failure: it is not counted among the closed files. */
  void Abandon();

 private:
  static int WriteThunk(void* self, const uint8_t* buf, int size);
  static int64_t SeekThunk(void* self, int64_t offset, int whence);
  int Write(const uint8_t* buf, int size);
  int64_t Seek(int64_t offset, int whence);
  std::string NextPath(double wallMs);

  TapFileOptions options_;
  int fd_ = -1;
  std::string path_;
  std::string error_;
  uint64_t closed_ = 0;
  uint64_t index_ = 0;          // 'index' naming: the last number used
  double lastStampMs_ = 0;      // 'stamp' naming: the last time used (names stay unique: +1 ms on a tie)
  double startWallMs_ = 0;
  int64_t pos_ = 0;             // where the next write goes (the muxers seek back to fill in sizes)
  uint64_t size_ = 0;
  uint64_t frames_ = 0;
  double firstMs_ = 0, endMs_ = 0;
  uint64_t sizeAtCut_ = 0;      // the size at the previous cut point
  uint64_t largestStep_ = 0;    // the most bytes one stretch between cut points (a GOP) added: the size margin
};

}  // namespace roomgate::plane
