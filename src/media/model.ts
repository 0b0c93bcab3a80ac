// The one media model every ingest (RTMP, WHIP, pull) hands to the room: timestamped encoded frames plus the
// codec configuration they need. Adapters translate their protocol into these values; nothing downstream knows
// which protocol a frame came from.

/** RTP clock rates of what the room sends (RFC 6184 for H.264, RFC 7587 for Opus). */
export const VIDEO_CLOCK = 90000;
export const OPUS_CLOCK = 48000;

/** H.264 decoder configuration, as carried by an AVCDecoderConfigurationRecord (avcC) or learnt in-band. */
export interface H264Config {
  codec: 'H264';
  /** profile_idc from the SPS (66 baseline, 77 main, 100 high, …). */
  profile: number;
  /** Human name of the profile ("Baseline", "Constrained Baseline", "Main", "High", …). */
  profileName: string;
  /** level_idc × 10 (31 = level 3.1). */
  level: number;
  width: number;
  height: number;
  /** Frames per second from the SPS VUI when present, else 0 (unknown). */
  fps: number;
  /** Bytes of each NAL length prefix in the AVCC sample format (1, 2 or 4). */
  naluLengthSize: number;
  /** Raw SPS NAL units (with their one-byte NAL header, no start code, no length prefix). */
  sps: Buffer[];
  /** Raw PPS NAL units. */
  pps: Buffer[];
}

/** AAC configuration from an AudioSpecificConfig. */
export interface AacConfig {
  codec: 'AAC';
  /** Audio object type (2 = AAC-LC, 5 = HE-AAC/SBR, 29 = HE-AACv2/PS). */
  objectType: number;
  sampleRate: number;
  channels: number;
  /** The AudioSpecificConfig bytes, as the decoder needs them. */
  asc: Buffer;
}

/** Opus configuration (WHIP publishers and Opus pull sources). */
export interface OpusConfig {
  codec: 'Opus';
  sampleRate: 48000;
  channels: number;
}

export type VideoConfig = H264Config;
export type AudioConfig = AacConfig | OpusConfig;

/** One H.264 access unit. */
export interface VideoFrame {
  kind: 'video';
  /** Decode timestamp in milliseconds on the publisher's clock. */
  dts: number;
  /** Presentation timestamp in milliseconds (== dts when the stream has no B-frames). */
  pts: number;
  /** True when the access unit holds an IDR slice. */
  keyframe: boolean;
  /** NAL units of the access unit without start codes or length prefixes; AUD and filler already removed. */
  nalus: Buffer[];
}

/** One encoded audio frame (one AAC raw_data_block, or one Opus packet). */
export interface AudioFrame {
  kind: 'audio';
  /** Timestamp in milliseconds on the publisher's clock (same clock as video). */
  dts: number;
  data: Buffer;
}

export type MediaFrame = VideoFrame | AudioFrame;

/** Where a publisher's media came from ('relay': a mixed relay's picture fed back into a room); shown in status APIs and room user lists. */
export type MediaSource = 'rtmp' | 'whip' | 'pull' | 'relay';

/**
 * What an ingest adapter drives. The room implements it per publisher. Configs come before the frames that need
 * them and may change mid-stream (a new sequence header); frames arrive in decode order.
 */
export interface MediaSink {
  setVideoConfig(config: VideoConfig): void;
  setAudioConfig(config: AudioConfig): void;
  pushFrame(frame: MediaFrame): void;
  /** The publisher is gone; `reason` is what a person reads ("publisher disconnected", "kicked: …"). */
  end(reason: string): void;
}
