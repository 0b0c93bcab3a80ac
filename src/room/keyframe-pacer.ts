// A WHIP publisher (a browser's WebRTC encoder) sends a keyframe only when asked — Chromium's H.264 encoder
// otherwise goes 3000 frames between them — where an RTMP encoder sends one every GOP. The tap cuts HLS segments and
// MP4 fragments only at keyframes, so without asking, a WHIP recording would be one HLS segment, and its MP4 one
// fragment held in memory until the end. The pacer asks the publisher for a keyframe when a cut is due.

/** What a pacer asks; false from a publisher that cannot make keyframes on request (RTMP, pull: they have a GOP). */
export interface KeyframeSource {
  requestKeyframe(): boolean;
}

export class KeyframePacer {
  private timer: NodeJS.Timeout | null = null;
  private source: KeyframeSource | null = null;

  /**
   * @param everyMs a cut is due this long after the last one (the HLS segment length)
   * @param retryMs after asking, ask again this often until `cut()` says the cut happened: an HLS track retries
   *   soon (a keyframe that came a little before the due time did not cut; the WHIP session sends at most one PLI
   *   per 500 ms), an MP4 track, which hears of no fragment, just asks every `everyMs`
   */
  constructor(
    private readonly everyMs: number,
    private readonly retryMs: number,
  ) {}

  /** Starts on a publisher (or one who came back); the first cut is due `everyMs` from now. */
  follow(source: KeyframeSource): void {
    this.source = source;
    this.schedule(this.everyMs);
  }

  /** The tap cut a file: the next cut is due `everyMs` from now. */
  cut(): void {
    if (this.source) this.schedule(this.everyMs);
  }

  stop(): void {
    this.source = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.ask(), ms);
    this.timer.unref();
  }

  private ask(): void {
    this.timer = null;
    // a publisher with its own GOP is never asked again: its keyframes come anyway
    if (!this.source?.requestKeyframe()) return this.stop();
    this.schedule(this.retryMs);
  }
}
