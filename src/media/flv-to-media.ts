// FlvToMedia: the per-publisher converter from FLV tag bodies (RTMP messages, or FLV read from an ffmpeg pull) to
// the media model. It parses each tag, applies the codec policy, and drives a MediaSink. It copies each tag it
// keeps exactly once (the RTMP parser reuses its buffers); NAL units are subarrays of that copy.

import type { AacConfig, H264Config, MediaSink } from './model.js';
import { parseAudioSpecificConfig } from './aac.js';
import { MediaError } from './errors.js';
import { parseFlvTag, TAG_AUDIO, TAG_VIDEO, type FlvAudioTag, type FlvVideoTag } from './flv.js';
import {
  NAL_AUD, NAL_FILLER, NAL_IDR, NAL_PPS, NAL_SLICE, NAL_SPS, parseAvcDecoderConfigurationRecord, readNalLength, sliceType,
} from './h264.js';
import { H264ParameterSets } from './h264-params.js';
import {
  aacConfigPolicy, audioCodecPolicy, compositionTimePolicy, malformedRefusal, sliceTypePolicy, videoCodecPolicy,
  type Refusal,
} from './policy.js';

/** A GOP longer than this is flagged: new subscribers wait up to one GOP for a picture. */
export const LONG_GOP_MS = 4000;

export interface FlvToMediaStats {
  /** Video frames handed to the sink. */
  frames: number;
  /** Of which IDR access units. */
  keyframes: number;
  /** Audio frames handed to the sink. */
  audioFrames: number;
  /** Tags that carried nothing to forward (before a sequence header, command frames, metadata, …). */
  skipped: number;
  /** Distance between the last two keyframes in ms (0 until two were seen). */
  lastGopMs: number;
  maxGopMs: number;
  /** Some GOP (finished or running) exceeded LONG_GOP_MS. */
  longGop: boolean;
  videoConfig: H264Config | null;
  audioConfig: AacConfig | null;
}

export class FlvToMedia {
  private readonly sink: MediaSink;
  private refused: Refusal | null = null;
  private readonly params = new H264ParameterSets();
  private audio: AacConfig | null = null;

  private frames = 0;
  private keyframes = 0;
  private audioFrames = 0;
  private skipped = 0;
  private lastKeyDts = 0;
  private seenKey = false;
  private lastGopMs = 0;
  private maxGopMs = 0;
  private longGop = false;

  // Reused NAL scan state: start and length of each NAL unit kept from the current tag.
  private nalStart: number[] = [];
  private nalLen: number[] = [];

  constructor(sink: MediaSink) {
    this.sink = sink;
  }

  /** The refusal this publisher got, if any. After a refusal every push returns it and the sink hears nothing. */
  get refusal(): Refusal | null {
    return this.refused;
  }

  get videoConfig(): H264Config | null {
    return this.params.config;
  }

  get audioConfig(): AacConfig | null {
    return this.audio;
  }

  get stats(): FlvToMediaStats {
    return {
      frames: this.frames, keyframes: this.keyframes, audioFrames: this.audioFrames, skipped: this.skipped,
      lastGopMs: this.lastGopMs, maxGopMs: this.maxGopMs, longGop: this.longGop,
      videoConfig: this.params.config, audioConfig: this.audio,
    };
  }

  /**
   * Takes one audio (8) or video (9) tag body. Returns null when the tag was forwarded or skipped, or the Refusal
   * that should end this publisher. Only errors from the sink (or bugs) are thrown. `body` is not kept.
   */
  push(type: 8 | 9, timestampMs: number, body: Buffer): Refusal | null {
    if (this.refused !== null) return this.refused;
    if (body.length === 0 || (type !== TAG_VIDEO && type !== TAG_AUDIO)) {
      this.skipped++;
      return null;
    }
    try {
      const tag = parseFlvTag(type, timestampMs, body);
      return tag.type === TAG_VIDEO ? this.pushVideo(tag, body) : this.pushAudio(tag, body);
    } catch (e) {
      if (e instanceof MediaError) return this.refuse(malformedRefusal(e.message));
      throw e;
    }
  }

  private refuse(r: Refusal): Refusal {
    this.refused = r;
    return r;
  }

  private skip(): null {
    this.skipped++;
    return null;
  }

  // ---- video ------------------------------------------------------------------------------------------------

  private pushVideo(tag: FlvVideoTag, body: Buffer): Refusal | null {
    const refusal = videoCodecPolicy(tag);
    if (refusal !== null) return this.refuse(refusal);
    if (tag.packet === 'frame') return this.videoFrame(tag, body);
    if (tag.packet === 'sequence-header') return this.videoSequenceHeader(body, tag.offset);
    return this.skip();
  }

  private videoSequenceHeader(body: Buffer, offset: number): null {
    if (offset >= body.length) return this.skip(); // some encoders send an empty one when they stop
    const copy = Buffer.from(body.subarray(offset));
    const rec = parseAvcDecoderConfigurationRecord(copy);
    if (rec.sps.length === 0) throw new MediaError('AVC sequence header carries no SPS');
    if (rec.pps.length === 0) throw new MediaError('AVC sequence header carries no PPS');
    if (this.params.setAll(rec.sps, rec.pps, rec.naluLengthSize)) this.sink.setVideoConfig(this.params.config!);
    return null;
  }

  private videoFrame(tag: FlvVideoTag, body: Buffer): Refusal | null {
    const config = this.params.config;
    if (config === null) return this.skip(); // before the first sequence header
    const ctsRefusal = compositionTimePolicy(tag.cts);
    if (ctsRefusal !== null) return this.refuse(ctsRefusal);

    // Scan the AVCC sample: bounds, keyframe, B-slices, parameter sets; note the NAL units to keep.
    const size = config.naluLengthSize;
    const starts = this.nalStart;
    const lens = this.nalLen;
    starts.length = 0;
    lens.length = 0;
    let kept = 0;
    let keyframe = false;
    let sliceSeen = false;
    let paramSets = false;
    let off = tag.offset;
    const end = body.length;
    while (off < end) {
      if (end - off < size) throw new MediaError(`NAL length prefix cut short at byte ${off} of a ${end}-byte video tag`);
      const len = readNalLength(body, off, size);
      off += size;
      if (len > end - off) {
        throw new MediaError(`NAL length ${len} at byte ${off - size} runs past the end of the video tag (${end - off} bytes left)`);
      }
      if (len === 0) continue;
      const t = body[off]! & 0x1f;
      if (t !== NAL_AUD && t !== NAL_FILLER) {
        if (t === NAL_IDR) keyframe = true;
        else if (t === NAL_SPS || t === NAL_PPS) paramSets = true;
        if (!sliceSeen && (t === NAL_SLICE || t === NAL_IDR)) {
          sliceSeen = true;
          const sliceRefusal = sliceTypePolicy(sliceType(body, off, off + len));
          if (sliceRefusal !== null) return this.refuse(sliceRefusal);
        }
        starts.push(off);
        lens.push(len);
        kept += len;
      }
      off += len;
    }
    const count = starts.length;
    if (count === 0) return this.skip();

    // One copy for the whole access unit; NAL units are subarrays of it.
    const copy = Buffer.allocUnsafe(kept);
    const nalus: Buffer[] = new Array(count);
    let pos = 0;
    for (let i = 0; i < count; i++) {
      const s = starts[i]!;
      const n = lens[i]!;
      body.copy(copy, pos, s, s + n);
      nalus[i] = copy.subarray(pos, pos + n);
      pos += n;
    }
    if (paramSets && this.params.update(nalus)) this.sink.setVideoConfig(this.params.config!);

    const dts = tag.timestamp;
    this.frames++;
    if (keyframe) {
      this.keyframes++;
      if (this.seenKey) {
        const gop = dts - this.lastKeyDts;
        if (gop > 0) {
          this.lastGopMs = gop;
          if (gop > this.maxGopMs) this.maxGopMs = gop;
          if (gop > LONG_GOP_MS) this.longGop = true;
        }
      }
      this.seenKey = true;
      this.lastKeyDts = dts;
    } else if (this.seenKey && dts - this.lastKeyDts > LONG_GOP_MS) {
      this.longGop = true;
    }
    this.sink.pushFrame({ kind: 'video', dts, pts: dts + tag.cts, keyframe, nalus });
    return null;
  }

  // ---- audio ------------------------------------------------------------------------------------------------

  private pushAudio(tag: FlvAudioTag, body: Buffer): Refusal | null {
    const refusal = audioCodecPolicy(tag);
    if (refusal !== null) return this.refuse(refusal);
    if (tag.packet === 'frame') {
      if (this.audio === null) return this.skip(); // before the first sequence header
      const len = body.length - tag.offset;
      if (len <= 0) return this.skip();
      const data = Buffer.allocUnsafe(len);
      body.copy(data, 0, tag.offset);
      this.audioFrames++;
      this.sink.pushFrame({ kind: 'audio', dts: tag.timestamp, data });
      return null;
    }
    if (tag.packet === 'sequence-header') {
      if (tag.offset >= body.length) return this.skip();
      const cur = this.audio;
      if (cur !== null && cur.asc.equals(body.subarray(tag.offset))) return null; // a repeated sequence header
      const config = parseAudioSpecificConfig(Buffer.from(body.subarray(tag.offset)));
      const policy = aacConfigPolicy(config);
      if (policy !== null) return this.refuse(policy);
      this.audio = config;
      this.sink.setAudioConfig(config);
      return null;
    }
    return this.skip();
  }
}
