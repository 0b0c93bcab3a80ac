// The mixed picture of a room as a feed: the compositor's FLV output (src/mix/compositor.ts) parsed by the same
// FlvToMedia every RTMP publisher and pull task goes through, pushed into a pipe of its own on the media engine. The
// pipe is not in the room (nobody sees a "mixed" user); a recorder taps it like any publisher's, so mixed files are
// cut, named and uploaded by the same code as single-stream ones. Relays (issue 18) tap it the same way, and a relay's
// FeedBackRoomParams users (src/relay/feedback-rooms.ts) get its configs and frames as outputs.

import type { Socket } from 'node:net';
import type { AudioConfig, MediaFrame, MediaSink, VideoConfig, VideoFrame } from '../media/model.js';
import { FlvToMedia } from '../media/flv-to-media.js';
import { FlvStreamReader } from '../ingest/pull/flv-stream-reader.js';
import type { Feed } from '../room/consumer.js';
import type { Pipe } from '../room/engine.js';

export class MixedFeed implements MediaSink, Feed {
  video: VideoConfig | null = null;
  audio: AudioConfig | null = null;
  /** A config became known: recorders waiting for it start. */
  onConfig: () => void = () => {};
  /** Changes each picture before anyone gets it (a mixed relay's SEI messages: src/relay/sei-inserter.ts). */
  rewriteVideo: ((frame: VideoFrame) => VideoFrame) | null = null;
  private readonly media = new FlvToMedia(this);
  private readonly outputs = new Set<MediaSink>();
  private readonly reader = new FlvStreamReader((type, ts, body) => {
    if (type === 8 || type === 9) this.media.push(type, ts, body);
  });

  constructor(readonly pipe: Pipe) {}

  /** Reads the compositor's stdout until it ends; `onBroken` hears a stream that is not FLV any more. */
  read(stdout: Socket, onBroken: (why: string) => void): void {
    stdout.on('data', (chunk: Buffer) => {
      try {
        this.reader.push(chunk);
      } catch (err) {
        onBroken((err as Error).message);
        stdout.destroy();
      }
    });
  }

  /** Another sink of the mix (a publisher in a room): the configs known so far now, then every frame. */
  addOutput(sink: MediaSink): void {
    this.outputs.add(sink);
    if (this.video) sink.setVideoConfig(this.video);
    if (this.audio) sink.setAudioConfig(this.audio);
  }

  removeOutput(sink: MediaSink): void {
    this.outputs.delete(sink);
  }

  setVideoConfig(config: VideoConfig): void {
    this.video = config;
    this.pipe.setVideoConfig(config);
    for (const o of this.outputs) o.setVideoConfig(config);
    this.onConfig();
  }

  setAudioConfig(config: AudioConfig): void {
    this.audio = config;
    this.pipe.setAudioConfig(config.codec === 'AAC' ? config.asc : null, 100);
    for (const o of this.outputs) o.setAudioConfig(config);
    this.onConfig();
  }

  pushFrame(frame: MediaFrame): void {
    const f = frame.kind === 'video' && this.rewriteVideo ? this.rewriteVideo(frame) : frame;
    this.pipe.push(f, false);
    for (const o of this.outputs) o.pushFrame(f);
  }

  end(): void {}

  /** The compositor makes a keyframe every GOP on its own; it cannot be asked for one. */
  requestKeyframe(): boolean {
    return false;
  }
}
