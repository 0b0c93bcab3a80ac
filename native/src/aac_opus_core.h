// roomgate — AAC → Opus transcoder core, plain C++17 (no N-API): raw AAC access units + the
// AudioSpecificConfig in, 48 kHz Opus packets of 20 ms out.
//
// Used by the N-API wrapper (aac_opus.cc, the JS class AacOpusTranscoder) and by native code that
// runs off the JS thread (the RTMP data plane). The pipeline and its decisions (timeline,
// channels, volume ramp, bad input) are described in aac_opus_core.cc and native/README.md.
//
// Threading: an instance is not thread-safe; use it from one thread at a time (it may move
// between threads when the caller synchronises the hand-over). Different instances may run on
// different threads at once. libavcodec's log is captured per thread (see InstallAvLogCallback).
//
// Errors: the constructor, SetVolume() and Push() (for a non-finite timestamp only) throw
//   std::invalid_argument  bad argument type/value   (the JS wrapper throws a TypeError)
//   std::out_of_range      option out of its range    (RangeError)
//   std::runtime_error     bad AudioSpecificConfig, libopus/libav set-up failure (Error)
// with the messages the JS API shows. Bad AAC data never throws: Push() counts it in
// Stats::errors and keeps Stats::lastError.
//
// This header includes no libav/libopus header: the state lives behind a pointer.

#ifndef ROOMGATE_AAC_OPUS_CORE_H_
#define ROOMGATE_AAC_OPUS_CORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace roomgate {

// Installs roomgate's process-wide av_log callback once (std::call_once; any thread): libav stays
// quiet on stderr unless ROOMGATE_AV_LOG=1 (read on the first call), and the last error-level
// message of each thread is kept for error texts. AacOpus's constructor calls it; calling it
// earlier (at module load) is harmless.
void InstallAvLogCallback();

// Versions of the linked libraries, e.g. "59.37.100", "4.7.100", "libopus 1.3.1".
struct AacOpusLibraryVersions {
  std::string avcodec;
  std::string swresample;
  std::string opus;
};
AacOpusLibraryVersions GetAacOpusLibraryVersions();

class AacOpus {
 public:
  enum class Application {
    kAudio,     // OPUS_APPLICATION_AUDIO ('audio')
    kLowDelay,  // OPUS_APPLICATION_RESTRICTED_LOWDELAY ('lowdelay')
    kVoip,      // OPUS_APPLICATION_VOIP ('voip')
  };

  // Valid range of a numeric option (inclusive).
  struct OptionRange {
    const char* name;  // the JS option name, used in error messages
    double min;
    double max;
    bool integer;
  };
  static constexpr OptionRange kBitrateRange{"bitrate", 6000, 510000, true};
  static constexpr OptionRange kChannelsRange{"channels", 1, 2, true};
  static constexpr OptionRange kComplexityRange{"complexity", 0, 10, true};
  static constexpr OptionRange kVolumeRange{"volume", 0, 200, false};
  static constexpr OptionRange kPacketLossPercentRange{"packetLossPercent", 0, 100, true};

  struct Options {
    std::vector<uint8_t> asc;  // AudioSpecificConfig (FLV AAC sequence header payload)
    int bitrate = 64000;       // bit/s
    int channels = 2;          // 1, or 2 (mono sources duplicated to both channels)
    int complexity = 5;
    double volume = 100;       // percent, 0..200
    bool fec = false;          // Opus in-band FEC
    std::optional<int> packetLossPercent;    // default: fec ? 10 : 0
    std::optional<Application> application;  // default: kLowDelay when bitrate >= 44 kb/s
                                             // stereo / >= 64 kb/s mono, else kAudio
  };

  // One Opus packet in PacketBytes(): `size` bytes, after the previous packets' bytes.
  struct Packet {
    size_t size;
    int64_t timestamp;  // 48 kHz units on the source clock, unwrapped (first input sample)
  };

  struct Stats {
    uint64_t framesIn = 0;       // Push() calls with a frame (good or bad), while open
    uint64_t packetsOut = 0;     // Opus packets produced (Push + Flush)
    uint64_t errors = 0;         // frames the decoder rejected + resampler/encoder failures
    uint64_t resyncs = 0;        // timeline resyncs (pts backwards or > 200 ms off)
    uint64_t gapFills = 0;       // forward gaps (5..200 ms) filled with silence
    uint64_t decoderResets = 0;  // decoder re-opens after a corrupt frame changed its format
    uint64_t samplesIn = 0;      // decoded samples per channel, at the decoder's output rate
    int inputSampleRate = 0;     // decoder output rate of the last decoded frame, 0 before
    int inputChannels = 0;       // decoder output channels of the last decoded frame, 0 before
    size_t bufferedSamples = 0;  // 48 kHz samples waiting for the next packet (0 once closed)
    std::string lastError;       // last error message, empty when none
  };

  // Throws (see above) on options out of range or a bad AudioSpecificConfig.
  explicit AacOpus(Options options);
  ~AacOpus();  // frees everything (Close() not required)
  AacOpus(const AacOpus&) = delete;
  AacOpus& operator=(const AacOpus&) = delete;

  // Decodes one raw AAC access unit (no ADTS header) with its timestamp in ms (for AAC,
  // FLV's DTS is the PTS) and appends the packets it completes to the packet buffer. Never
  // throws for bad data (counted in Stats::errors); throws std::invalid_argument when ptsMs
  // is not finite. No-op once closed.
  void Push(const uint8_t* data, size_t len, double ptsMs);
  // Appends the buffered remainder (zero-padded so that the encoder's lookahead is out too);
  // the next Push() re-anchors the timeline. No-op once closed.
  void Flush();
  // Percent 0..200, ramped over the next packet; std::out_of_range otherwise. Allowed after
  // Close() (only the value is kept).
  void SetVolume(double percent);
  // Frees the decoder, resampler and encoder and drops untaken packets. Idempotent.
  void Close();

  // ---- produced packets: bytes back to back + one {size, timestamp} per packet, in order.
  const std::vector<uint8_t>& PacketBytes() const;
  const std::vector<Packet>& Packets() const;
  // Forgets the packets read through the two accessors above (keeps the capacity).
  void ClearPackets();
  // Moves the packets out: *bytes and *packets are replaced by them, and their previous
  // buffers (cleared) become the internal ones, so steady use allocates nothing.
  void TakePackets(std::vector<uint8_t>* bytes, std::vector<Packet>* packets);

  // ---- state
  double volume() const;
  uint64_t errors() const;
  bool closed() const;
  int lookahead() const;  // Opus encoder lookahead in 48 kHz samples (codec delay)
  int channels() const;
  Application application() const;
  Stats stats() const;

  // ---- option helpers (also used by the JS wrapper, so that both report the same errors)
  // Returns value, or throws std::out_of_range "AacOpusTranscoder: options.<name> must be
  // between <min> and <max> (got <value>)" / "... must be an integer".
  static double CheckOption(const OptionRange& range, double value);
  // "audio" | "lowdelay" | "voip"; anything else throws std::invalid_argument.
  static Application ParseApplication(const std::string& name);
  static const char* ApplicationName(Application application);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace roomgate

#endif  // ROOMGATE_AAC_OPUS_CORE_H_
