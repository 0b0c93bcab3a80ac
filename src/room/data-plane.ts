// The gateway's native RTMP data plane (src/native/rtmp-plane.ts): one per gateway, created by main.ts when the
// addon is built and rtmp.dataPlane and webrtc.nativeSend are on. It routes the plane's events to whoever owns each
// pipe (the RTMP connection) and converts between the plane's clock and performance.now().

import { loadRtmpPlane, type PlaneEvent, type RtmpPlane } from '../native/rtmp-plane.js';
import type { Logger } from '../log.js';

export type PipeEventHandler = (event: PlaneEvent) => void;

export class DataPlane {
  private readonly handlers = new Map<number, PipeEventHandler>();
  /** plane clock − performance.now(): both read CLOCK_MONOTONIC, performance.now() from the process's start. */
  private readonly clockOffset: number;

  private constructor(readonly native: RtmpPlane) {
    this.clockOffset = native.now() - performance.now();
  }

  /** The plane, or null when the addon is not built (RTMP then runs on the JavaScript path). */
  static create(log: Logger): DataPlane | null {
    const mod = loadRtmpPlane();
    if (!mod) return null;
    let plane: DataPlane | null = null;
    const native = new mod.RtmpPlane((events) => {
      for (const e of events) {
        try {
          plane?.handlers.get(e.pipe)?.(e);
        } catch (err) {
          // a bug in one publisher's handler must not take the process (this runs outside any request)
          log.error({ err, pipe: e.pipe, kind: e.kind }, 'data plane event handler failed');
        }
      }
    });
    plane = new DataPlane(native);
    return plane;
  }

  createPipe(opts: { opusBitrate: number; opusComplexity: number }, onEvent: PipeEventHandler): number {
    const pipe = this.native.createPipe(opts);
    this.handlers.set(pipe, onEvent);
    return pipe;
  }

  closePipe(pipe: number): void {
    this.handlers.delete(pipe);
    this.native.closePipe(pipe);
  }

  /** A plane clock reading as performance.now() time. */
  toPerformance(planeMs: number): number {
    return planeMs - this.clockOffset;
  }

  /** performance.now() time on the plane clock. */
  fromPerformance(ms: number): number {
    return ms + this.clockOffset;
  }

  close(): void {
    this.handlers.clear();
    this.native.close();
  }
}
