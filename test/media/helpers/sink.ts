// A MediaSink that records everything it is told, in order.

import type { AudioConfig, AudioFrame, MediaFrame, MediaSink, VideoConfig, VideoFrame } from '../../../src/media/model.js';
import type { Refusal } from '../../../src/media/policy.js';
import type { FlvToMedia } from '../../../src/media/flv-to-media.js';
import type { FlvTagRecord } from './flv-file.js';

export type SinkEvent =
  | { kind: 'video-config'; config: VideoConfig }
  | { kind: 'audio-config'; config: AudioConfig }
  | { kind: 'frame'; frame: MediaFrame }
  | { kind: 'end'; reason: string };

export class RecordingSink implements MediaSink {
  events: SinkEvent[] = [];
  videoConfigs: VideoConfig[] = [];
  audioConfigs: AudioConfig[] = [];
  video: VideoFrame[] = [];
  audio: AudioFrame[] = [];

  setVideoConfig(config: VideoConfig): void {
    this.videoConfigs.push(config);
    this.events.push({ kind: 'video-config', config });
  }

  setAudioConfig(config: AudioConfig): void {
    this.audioConfigs.push(config);
    this.events.push({ kind: 'audio-config', config });
  }

  pushFrame(frame: MediaFrame): void {
    if (frame.kind === 'video') this.video.push(frame);
    else this.audio.push(frame);
    this.events.push({ kind: 'frame', frame });
  }

  end(reason: string): void {
    this.events.push({ kind: 'end', reason });
  }
}

export interface FeedResult {
  refusal: Refusal | null;
  /** Index (among the pushed audio/video tags) of the tag that was refused, or -1. */
  refusedAt: number;
  /** Index among video tags of the refused tag, or -1. */
  refusedAtVideo: number;
}

/** Pushes the audio and video tags (script data is the caller's, as in the RTMP adapter) until a refusal. */
export function feed(conv: FlvToMedia, tags: readonly FlvTagRecord[]): FeedResult {
  let i = 0;
  let v = 0;
  for (const t of tags) {
    if (t.type !== 8 && t.type !== 9) continue;
    const r = conv.push(t.type, t.timestamp, t.body);
    if (r !== null) return { refusal: r, refusedAt: i, refusedAtVideo: t.type === 9 ? v : -1 };
    i++;
    if (t.type === 9) v++;
  }
  return { refusal: null, refusedAt: -1, refusedAtVideo: -1 };
}
