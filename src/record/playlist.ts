// One HLS playlist of a recording, as TRTC writes it (trtc-egress.md §2.3): version 3, no caching, the recording's
// start in #EXT-X-TRTC-START-REC-TIME and, for video, #EXT-X-TRTC-VIDEO-METADATA; segments are added as the native tap
// closes them. The file is rewritten whole after every segment (write to a temporary name, then rename), so a reader
// or a SIGKILL never sees half a playlist: after a crash it plays up to its last segment; #EXT-X-ENDLIST comes when
// the recording ends.

import { rename, writeFile } from 'node:fs/promises';

export interface PlaylistSegment {
  /** File name relative to the playlist. */
  name: string;
  durationMs: number;
  /** Timestamps or codec config restart here (a publisher came back with another encoder). */
  discontinuity: boolean;
}

export class Playlist {
  private readonly segments: PlaylistSegment[] = [];
  private ended = false;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    /** Absolute path of the .m3u8. */
    readonly path: string,
    /** Unix ms when the recording's first data arrived (server time). */
    readonly startRecMs: number,
    private readonly video: { width: number; height: number } | null,
  ) {}

  get segmentCount(): number {
    return this.segments.length;
  }

  /** Adds a closed segment and rewrites the file; resolves when it is on disk. */
  add(segment: PlaylistSegment): Promise<void> {
    this.segments.push(segment);
    return this.write();
  }

  /** Appends #EXT-X-ENDLIST and rewrites the file. */
  end(): Promise<void> {
    this.ended = true;
    return this.write();
  }

  render(): string {
    const lines = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-ALLOW-CACHE:NO', '#EXT-X-MEDIA-SEQUENCE:0'];
    // The target duration must be at least every segment's duration rounded to the nearest second (RFC 8216 §4.3.3.1).
    const longest = this.segments.reduce((m, s) => Math.max(m, Math.round(s.durationMs / 1000)), 1);
    lines.push(`#EXT-X-TARGETDURATION:${longest}`, `#EXT-X-TRTC-START-REC-TIME:${this.startRecMs}`);
    if (this.video) lines.push(`#EXT-X-TRTC-VIDEO-METADATA:WIDTH:${this.video.width} HEIGHT:${this.video.height}`);
    for (const s of this.segments) {
      if (s.discontinuity) lines.push('#EXT-X-DISCONTINUITY');
      lines.push(`#EXTINF:${(s.durationMs / 1000).toFixed(3)},`, s.name);
    }
    if (this.ended) lines.push('#EXT-X-ENDLIST');
    return lines.join('\n') + '\n';
  }

  /** Writes are chained, so the file on disk is always the latest complete rendering. */
  private write(): Promise<void> {
    const text = this.render();
    const tmp = `${this.path}.tmp`;
    this.writing = this.writing.catch(() => {}).then(async () => {
      await writeFile(tmp, text);
      await rename(tmp, this.path);
    });
    return this.writing;
  }
}
