// A recording the gateway was killed under, whose storage is S3 (CloudStorage): the files its run left in
// `<recording dir>/<TaskId>` — closed but not yet uploaded (a store that was down, a queue behind), and the ones it was
// still writing — are uploaded at the next start-up, in the background once the node is ready, and the app hears
// what a normal end says after its 302: 305 (Status 1 while files are left), then 310 per MP4/AAC file.
//
// What is done to the files first, so each lands under the key a normal end would have used:
// - The tap writes MPEG-TS and fragmented MP4 (a fragment per keyframe, the moov up front), so a segment or MP4/AAC
//   file cut off by the kill plays as it is up to its last whole packet or fragment: uploaded unchanged.
// - An MP4/AAC file is named `<stem>_<N>` while it is written; a normal end drops the `_1` of a file that stayed its
//   track's only one (track.ts), so a lone `<stem>_1.mp4` here becomes `<stem>.mp4` too (`ha<N>_` names alike).
// - Playlists are closed with #EXT-X-ENDLIST. Nothing will be added to them any more; without the tag a player takes
//   the playlist for a live stream (it polls it for ever, and hls.js or Safari start at its live edge, not at its
//   beginning), and scripts that wait for a finished playlist wait for ever. The segment being written at the kill
//   is uploaded but not listed: its duration is unknown without reading the stream, and a guessed #EXTINF misleads
//   seeking; it plays on its own. A `.tmp` left by a playlist rewrite cut off by the kill is removed (the previous
//   whole version is still in place).
// - An empty segment or MP4/AAC file (opened, nothing written to it yet) is removed: there is nothing to upload.
// A file whose upload was half done, or done, before the kill is simply put again (same key, same bytes). Failed puts
// are retried by the UploadQueue's usual rules; what is still left after recording.uploadDrainSeconds is reported
// (305 Status 1, 310 Status 1) and keeps being retried until the gateway stops, as after a normal end.

import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { RecordEventSink, RecordEventType } from '../events/record-events.js';
import type { RecordingSpec } from '../api/cloud-recording-service.js';
import type { DrainResult, UploadQueue } from './storage/upload-queue.js';
import { userIdOfName, type TrackKind } from './names.js';
import { recordedKinds } from './subscribe.js';

/** One file to upload, with the name it is stored under. */
export interface LeftoverFile {
  path: string;
  name: string;
  bytes: number;
  /** MP4/AAC files: what their 310 says. */
  media?: { userId: string; kind: TrackKind; startWallMs: number; endWallMs: number };
}

/** `<stem>_<N>.mp4|aac`: every MP4/AAC file the tap was writing or had closed (the final rename comes at a normal end). */
const INDEXED = /^(.+)_(\d+)\.(mp4|aac)$/;

/**
 * Gets a killed task's directory ready for upload (renames, closed playlists) and lists its files in upload order:
 * segments, then MP4/AAC files, then the playlists naming the segments. A missing directory holds nothing.
 */
export async function prepareLeftovers(dir: string, spec: RecordingSpec, createdAt: number): Promise<LeftoverFile[]> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const segments: LeftoverFile[] = [];
  const media: LeftoverFile[] = [];
  const playlists: LeftoverFile[] = [];
  for (let name of names) {
    let path = join(dir, name);
    if (name.endsWith('.tmp')) {
      await rm(path, { force: true });
      continue;
    }
    const indexed = INDEXED.exec(name);
    if (indexed) {
      const [, stem, index, ext] = indexed;
      const lone = index === '1' && !names.some((n) => {
        const other = n !== name && INDEXED.exec(n);
        return other && other[1] === stem && other[3] === ext;
      });
      if (lone) {
        name = `${stem}.${ext}`;
        await rename(path, join(dir, name));
        path = join(dir, name);
      }
      const st = await stat(path);
      if (await droppedEmpty(path, st.size)) continue;
      media.push({ path, name, bytes: st.size, media: { ...mediaOf(name, ext as 'mp4' | 'aac', spec), ...wallTimes(st, createdAt) } });
    } else if (name.endsWith('.ts')) {
      const { size } = await stat(path);
      if (!(await droppedEmpty(path, size))) segments.push({ path, name, bytes: size });
    } else if (name.endsWith('.m3u8')) {
      await endPlaylist(path);
      playlists.push({ path, name, bytes: 0 });
    }
    // nothing else is a recording's: left where it is
  }
  return [...segments, ...media, ...playlists];
}

/**
 * An empty file holds nothing of the recording (the kill came before the tap's first write to it reached the file):
 * it is removed, as a normal end uploads no empty file. Resolves whether it was.
 */
async function droppedEmpty(path: string, size: number): Promise<boolean> {
  if (size > 0) return false;
  await rm(path, { force: true });
  return true;
}

/** Who and what a 310 names for an MP4/AAC file: as the task that wrote it planned its tracks (recording-task.ts). */
function mediaOf(name: string, ext: 'mp4' | 'aac', spec: RecordingSpec): { userId: string; kind: TrackKind } {
  const userId = spec.recordMode === 2 ? '' : (userIdOfName(name) ?? '');
  if (ext === 'aac') return { userId, kind: 'audio' };
  const { video, audio } = spec.recordMode === 2
    ? { video: spec.streamType !== 1, audio: spec.streamType !== 2 }
    : recordedKinds(spec.streamType, spec.subscribe, userId);
  return { userId, kind: video && audio ? 'audio_video' : video ? 'video' : 'audio' };
}

/**
 * A normal end takes a file's start and end from the tap; here the file system says them: the tap creates the file
 * with its first frame and wrote it last with its last fragment. Where the file system keeps no birth time, the
 * task's creation stands for the start (the earliest it can be).
 */
function wallTimes(st: { birthtimeMs: number; mtimeMs: number }, createdAt: number): { startWallMs: number; endWallMs: number } {
  const endWallMs = Math.round(st.mtimeMs);
  return { startWallMs: Math.min(endWallMs, st.birthtimeMs > 0 ? Math.round(st.birthtimeMs) : createdAt), endWallMs };
}

/** Appends #EXT-X-ENDLIST where it is missing, replacing the file whole (write, then rename) as playlist.ts does. */
async function endPlaylist(path: string): Promise<void> {
  const text = await readFile(path, 'utf8');
  if (/^#EXT-X-ENDLIST\s*$/m.test(text)) return;
  await writeFile(`${path}.tmp`, `${text}${text.endsWith('\n') ? '' : '\n'}#EXT-X-ENDLIST\n`);
  await rename(`${path}.tmp`, path);
}

export interface LeftoverUploadOptions {
  taskId: string;
  /** The task's spec as its record kept it (storage, room, recording user, what it recorded). */
  spec: RecordingSpec;
  createdAt: number;
  /** `<recording dir>/<TaskId>`. */
  dir: string;
  /** A queue to the task's storage, its own. */
  uploads: UploadQueue;
  /** recording.uploadDrainSeconds: how long 305 waits for the uploads. */
  drainMs: number;
  events: RecordEventSink;
  /** A file was uploaded with this many bytes (the metrics). */
  onBytes?: (bytes: number) => void;
  /** After the last callback: the queue goes on retrying what is left. */
  onDone: () => void;
  log: Logger;
}

/** The upload of one killed task's files and the callbacks that close it (305, 310). */
export class LeftoverUpload {
  private running: Promise<void> | null = null;
  /** A shutdown's budget for the rest of the wait (closeAll's uploadMs), once one came. */
  private cutMs = Infinity;
  private shorten: ((ms: number) => void) | null = null;

  constructor(private readonly o: LeftoverUploadOptions) {}

  get taskId(): string {
    return this.o.taskId;
  }

  /** Starts the upload (once); resolves after the last callback. Never rejects. */
  run(): Promise<void> {
    this.running ??= this.upload().catch((err: unknown) => this.o.log.error({ err, taskId: this.o.taskId }, 'uploading the files a killed recording left failed'));
    return this.running;
  }

  /** Shutdown: the uploads get at most `ms` more, as a live task's end does at a close; resolves when it reported. */
  cut(ms: number): Promise<void> {
    this.cutMs = Math.min(this.cutMs, ms);
    this.shorten?.(ms);
    return this.running ?? Promise.resolve();
  }

  private async upload(): Promise<void> {
    const { taskId, uploads, log } = this.o;
    let files: LeftoverFile[] = [];
    /** Files that could not be listed or queued: still on this server (305 Status 1). */
    let unqueued = 0;
    try {
      files = await prepareLeftovers(this.o.dir, this.o.spec, this.o.createdAt);
    } catch (err) {
      unqueued++;
      log.error({ err, taskId }, `the files a killed recording left in ${this.o.dir} cannot be read: they stay there`);
    }
    this.watch(new Map(files.map((f) => [f.name, f.bytes])));
    for (const f of files) {
      try {
        uploads.enqueue(f.path, f.name, { removeAfter: true });
      } catch (err) {
        unqueued++;
        log.warn({ err, taskId, path: f.path }, 'a file a killed recording left cannot be uploaded: it stays');
      }
    }
    log.info({ taskId, files: files.length }, 'uploading the files a killed recording left');
    const r = await this.settled();
    if (!r.complete) log.warn({ taskId, left: r.left }, 'files a killed recording left not uploaded yet');
    this.emit(305, { Status: r.complete && unqueued === 0 ? 0 : 1 });
    for (const f of files) {
      if (!f.media) continue;
      const m = f.media;
      this.emit(310, {
        Status: r.left.includes(f.name) ? 1 : 0, // 1: still on this server, not in the store
        FileList: [f.name],
        FileMessage: [{ FileName: f.name, UserId: m.userId, TrackType: m.kind, MediaId: 'main', StartTimeStamp: m.startWallMs, EndTimeStamp: m.endWallMs }],
      });
    }
    this.o.onDone();
  }

  /** Waits until the queue is empty or the drain time (or a shutdown's budget) has passed; says what is left. */
  private async settled(): Promise<DrainResult> {
    const { uploads } = this.o;
    if (uploads.pending() > 0) {
      await new Promise<void>((resolve) => {
        let timer: NodeJS.Timeout;
        const done = () => {
          clearTimeout(timer);
          uploads.off('idle', done);
          this.shorten = null;
          resolve();
        };
        const until = (ms: number) => {
          clearTimeout(timer);
          timer = setTimeout(done, ms);
        };
        uploads.on('idle', done);
        until(Math.min(this.o.drainMs, this.cutMs));
        this.shorten = (ms) => until(ms);
      });
    }
    return uploads.drain(0);
  }

  /** 308 once per outage, as a running task says it; uploaded bytes to the metrics. */
  private watch(sizes: Map<string, number>): void {
    let failing = false;
    this.o.uploads.on('uploaded', ({ key }) => {
      failing = false;
      const bytes = sizes.get(key);
      if (bytes) this.o.onBytes?.(bytes);
      sizes.delete(key);
    });
    this.o.uploads.on('failed', ({ key, code, message }) => {
      this.o.log.warn({ taskId: this.o.taskId, key, code }, `upload failed: ${message}`);
      if (failing) return;
      failing = true;
      this.emit(308, { Code: code, Message: message });
    });
  }

  private emit(eventType: RecordEventType, payload: Record<string, unknown>): void {
    const { sdkAppId, roomId, roomIdType, userId } = this.o.spec;
    this.o.events.record({ sdkAppId, roomId, numericRoom: roomIdType === 1, eventType, taskId: this.o.taskId, userId, payload, at: Date.now() });
  }
}
