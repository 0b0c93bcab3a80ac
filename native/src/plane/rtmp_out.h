// The media half of an RTMP publish (a relay to a CDN, issue 18): FLV audio and video tags as RTMP messages, chunked,
// ready for the socket. The other half — handshake, connect, createStream, publish, and answering the server's pings
// — is node-media-server's RTMP client in JavaScript (src/relay/engine-push.ts); once the server has said
// NetStream.Publish.Start it hands the socket to a tap of format 'rtmp' (tap.h), which writes these messages from the
// engine's thread. The relay then costs one send() per frame and no process: an ffmpeg child copying the same stream
// costs a core's 0.6–0.8 % (docs/performance.md, "Relay to CDN").
//
// What the messages carry, as OBS and ffmpeg send them (Adobe's FLV spec, E.4.2 and E.4.3):
// - video: an AVC sequence header (AVCDecoderConfigurationRecord, ISO 14496-15 5.2.4.1) before the first keyframe and
//   again whenever the publisher's SPS/PPS change, then each access unit as 4-byte-length-prefixed NAL units;
// - audio: an AAC sequence header (the AudioSpecificConfig) before the first frame and whenever it changes, then raw
//   AAC frames.
// No onMetaData: players and CDN ingest (nginx-rtmp, SRS) take codec and size from the sequence headers.
//
// Chunking (RTMP 1.0, 5.3, ChunkRtmpMessage): every message starts a type-0 chunk on its own chunk stream (video 6,
// audio 4) — 12 bytes a message, which spares the state of delta headers — and continues in type-3 chunks of
// `chunkSize` payload bytes.
// The chunk size is the one the JavaScript client announced with Set Chunk Size before the hand-over. Timestamps past
// 0xFFFFFF ms (4.7 hours) go in the extended field, repeated on each type-3 chunk as ffmpeg, nginx-rtmp and SRS read it.

#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "h264_rtp.h"

namespace roomgate::plane {

/** One RTMP message: an FLV tag's body, its type (8 audio, 9 video) and timestamp. */
struct RtmpOutMessage {
  uint8_t type = 0;
  uint32_t ms = 0;
  bool keyframe = false;  // video coded data of a keyframe (a sequence header is not one)
  std::vector<uint8_t> body;
};

/** FLV tag bodies for the frames of one stream, with a sequence header wherever a player needs one. */
class RtmpTags {
 public:
  /**
   * One access unit at `ms` (the RTMP timeline), appended to `out`. A keyframe whose `sets` differ from the last
   * sequence header made (or the first keyframe) is preceded by a new one. Returns false (and appends nothing) for a
   * frame no player could decode: before any keyframe with SPS/PPS.
   */
  bool Video(const uint8_t* const* nals, const uint32_t* lens, int count, uint32_t ms, bool keyframe,
             const ParamSets& sets, std::vector<RtmpOutMessage>* out);
  /** One raw AAC frame at `ms`; `asc` is its AudioSpecificConfig, a sequence header first when it is new. */
  void Aac(const uint8_t* data, uint32_t len, uint32_t ms, const std::vector<uint8_t>& asc, std::vector<RtmpOutMessage>* out);
  /** The sequence headers made so far are forgotten (their messages were dropped): the next frames repeat them. */
  void Forget();

  /** The AVCDecoderConfigurationRecord for `sets` (empty without an SPS of at least 4 bytes). */
  static std::vector<uint8_t> AvcConfig(const ParamSets& sets);

 private:
  std::vector<uint8_t> videoConfig_;  // the AVC sequence header last made (empty: none yet)
  std::vector<uint8_t> audioConfig_;  // the AudioSpecificConfig last made
};

/**
 * Appends `m` to `out` as chunks: a type-0 chunk on the message's chunk stream, then type-3 chunks of `chunkSize`
 * payload bytes. `streamId` is the message stream createStream gave.
 */
void ChunkRtmpMessage(const RtmpOutMessage& m, uint32_t streamId, uint32_t chunkSize, std::vector<uint8_t>* out);

}  // namespace roomgate::plane
