// One recorded track of one user: a native tap in file mode (native/src/plane/tap.h) that writes HLS segments, MP4 or
// AAC files while the user publishes, and follows the user across reconnects (the tap is moved to the new pipe, so
// timestamps continue and the playlist goes on). The tap cuts and names the files on the engine's thread; this side
// keeps the HLS playlist and tells the task about every file it closed.

import { basename } from 'node:path';
import { rename } from 'node:fs/promises';
import type { Logger } from '../log.js';
import type { Pipe, Tap } from '../room/engine.js';
import type { AudioConfig, VideoConfig } from '../media/model.js';
import type { TapFileOptions } from '../native/rtmp-plane.js';
import { Playlist } from './playlist.js';
import { KeyframePacer, type KeyframeSource } from '../room/keyframe-pacer.js';
import type { TrackKind } from './names.js';

export type TrackFormat = 'hls' | 'mp4' | 'aac';

/** An HLS track whose cut is due asks a WHIP publisher again this often until the keyframe comes. */
const KEYFRAME_RETRY_MS = 500;

/** A file the track finished: the task lists it, uploads it and reports it. */
export interface FinishedFile {
  path: string;
  name: string;
  format: TrackFormat | 'm3u8';
  startWallMs: number;
  durationMs: number;
  bytes: number;
}

export interface TrackOptions {
  format: TrackFormat;
  kind: TrackKind;
  /** Absolute path without extension: `<dir>/<stem>`. */
  stem: string;
  hlsSegmentMs: number;
  /** MP4/AAC: a new file after this much media (MaxMediaFileDuration) or this many bytes (2 GB). */
  splitMs: number;
  splitBytes: number;
  /** A segment or file is closed (uploads start from here). */
  onFile: (f: FinishedFile, playlist: FinishedFile | null) => void;
  /** The tap could not write: the message names the path and the system's reason. */
  onFailed: (message: string) => void;
  log: Logger;
}

export class RecordedTrack {
  private tap: Tap | null = null;
  /** The pipe the tap takes frames from now (null while the user is away or the track unwanted). */
  private on: Pipe | null = null;
  private playlist: Playlist | null = null;
  private firstFileStart = 0;
  /** MP4/AAC files so far; the first one loses its `_1` if it stays the only one (TRTC adds the index only on a split). */
  private readonly files: FinishedFile[] = [];
  private failed = false;
  /** A tap with video: asks a publisher that keyframes only on request (WHIP) for the keyframes the cuts need. */
  private pacer: KeyframePacer | null = null;

  constructor(private readonly o: TrackOptions) {}

  get video(): boolean {
    return this.o.kind !== 'audio';
  }

  get audio(): boolean {
    return this.o.kind !== 'video';
  }

  get started(): boolean {
    return this.tap !== null;
  }

  /** Unix ms of the track's first file (0 before any); Describe's BeginTimeStamp. */
  get beginTimeStamp(): number {
    return this.firstFileStart;
  }

  /** The file Describe lists for the track: its playlist, or its first MP4/AAC file. */
  get indexName(): string {
    if (this.o.format === 'hls') return `${basename(this.o.stem)}.m3u8`;
    const ext = this.o.format === 'mp4' ? 'mp4' : 'aac';
    return this.files.length > 1 ? `${basename(this.o.stem)}_1.${ext}` : `${basename(this.o.stem)}.${ext}`;
  }

  /** Starts writing from `pipe` (the first time) or moves the tap onto it (the user published again). */
  attach(pipe: Pipe, media: { video: VideoConfig | null; audio: AudioConfig | null } & Partial<KeyframeSource>): void {
    if (this.failed || this.on === pipe) return;
    if (this.tap) {
      // a reattach makes video wait for a keyframe, so only when the publisher is really another pipe
      try {
        this.tap.attach(pipe);
        this.on = pipe;
        this.pace(media);
      } catch (err) {
        this.o.log.debug({ err, stem: this.o.stem }, 'track not moved: the pipe closed meanwhile');
      }
      return;
    }
    const withVideo = this.video && media.video !== null;
    const audio = this.audio && media.audio ? audioMode(media.audio, this.o.format) : '';
    if (!withVideo && !audio) return;
    if (this.o.format === 'hls') this.playlist = new Playlist(`${this.o.stem}.m3u8`, Date.now(), withVideo ? { width: media.video!.width, height: media.video!.height } : null);
    const file: TapFileOptions = this.o.format === 'hls'
      ? { prefix: this.o.stem, naming: 'stamp', ext: 'ts', segmentMs: this.o.hlsSegmentMs, maxBytes: 0 }
      : { prefix: this.o.stem, naming: 'index', ext: this.o.format, segmentMs: this.o.splitMs, maxBytes: this.o.splitBytes };
    const format = this.o.format === 'hls' ? 'mpegts' : this.o.format === 'mp4' ? 'mp4' : 'adts';
    try {
      this.tap = pipe.addTap({ file, video: withVideo, audio, format });
    } catch (err) {
      this.fail(`cannot start ${this.o.stem}: ${(err as Error).message}`);
      return;
    }
    if (!this.tap) return; // the pipe closed meanwhile; the next attach tries again
    this.on = pipe;
    if (withVideo) this.pacer = new KeyframePacer(this.o.hlsSegmentMs, this.o.format === 'hls' ? KEYFRAME_RETRY_MS : this.o.hlsSegmentMs);
    this.pace(media);
    // the tap continues timestamps across a reconnect, so segments never need #EXT-X-DISCONTINUITY; a changed codec
    // config starts a new segment (cause 'config'), which players take as a new sequence header in band
    this.tap.onEvent = (e) => {
      if (e.kind === 'tap-file') {
        this.pacer?.cut();
        void this.closed(e.path, e.startWallMs, e.durationMs, e.bytes);
      } else this.fail(e.message);
    };
  }

  /** The user left: the current file stays open for a return. */
  detach(): void {
    if (!this.on) return;
    this.on = null;
    this.pacer?.stop();
    this.tap?.detach();
  }

  /**
   * Closes the last file, ends the playlist; resolves when both are on disk (and named for good). Never rejects: a
   * playlist that cannot be written is reported through onFailed, so the task still ends with its callbacks.
   */
  async finish(): Promise<void> {
    const tap = this.tap;
    this.tap = null;
    this.on = null;
    this.pacer?.stop();
    const last = tap?.remove().file ?? null;
    if (last) await this.closed(last.path, last.startWallMs, last.durationMs, last.bytes, true);
    else if (this.playlist) {
      if (await this.writePlaylist(() => this.playlist!.end())) this.o.onFile(this.playlistFile(), null);
    }
  }

  private async closed(path: string, startWallMs: number, durationMs: number, bytes: number, final = false): Promise<void> {
    if (this.firstFileStart === 0) this.firstFileStart = startWallMs;
    if (bytes === 0 && durationMs === 0 && !final) return;
    let file: FinishedFile = { path, name: basename(path), format: this.o.format, startWallMs, durationMs, bytes };
    if (this.playlist) {
      const playlist = this.playlist;
      const written = await this.writePlaylist(async () => {
        if (bytes > 0) await playlist.add({ name: file.name, durationMs, discontinuity: false });
        if (final) await playlist.end();
      });
      // the segment itself is whole: it is still handed on (listed, uploaded) when the playlist could not be written
      this.o.onFile(file, written ? this.playlistFile() : null);
      return;
    }
    // MP4/AAC: `<stem>_1.mp4` becomes `<stem>.mp4` when the recording ends without a split
    if (final && this.files.length === 0) {
      const plain = `${this.o.stem}.${this.o.format}`;
      try {
        await rename(path, plain);
        file = { ...file, path: plain, name: basename(plain) };
      } catch (err) {
        this.o.log.warn({ err, path }, 'could not drop the index from the only recording file');
      }
    }
    this.files.push(file);
    this.o.onFile(file, null);
  }

  /**
   * Runs a playlist update; false when it failed (full disk, directory gone). The failure ends the task through
   * onFailed, naming the path: called from tap events and from finish(), a rejection here would have nobody to catch
   * it and take the whole process down.
   */
  private async writePlaylist(update: () => Promise<void>): Promise<boolean> {
    try {
      await update();
      return true;
    } catch (err) {
      this.fail(`cannot write the playlist ${this.playlist!.path}: ${(err as Error).message}`);
      return false;
    }
  }

  private pace(media: Partial<KeyframeSource>): void {
    if (this.pacer && media.requestKeyframe) this.pacer.follow({ requestKeyframe: () => media.requestKeyframe!() });
  }

  private playlistFile(): FinishedFile {
    const path = this.playlist!.path;
    return { path, name: basename(path), format: 'm3u8', startWallMs: this.playlist!.startRecMs, durationMs: 0, bytes: 0 };
  }

  private fail(message: string): void {
    if (this.failed) return;
    this.failed = true;
    this.o.onFailed(message);
  }
}

/** What the tap does with the publisher's audio: AAC is copied; Opus is kept in MP4 (Chromium and ffmpeg play it), made AAC elsewhere. */
function audioMode(a: AudioConfig, format: TrackFormat): 'aac' | 'opus' | 'opus-to-aac' {
  if (a.codec === 'AAC') return 'aac';
  return format === 'mp4' ? 'opus' : 'opus-to-aac';
}
