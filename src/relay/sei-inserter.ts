// SeiParams of a mixed relay (trtc-egress.md §4.3, §4.5): SEI messages put into the H.264 the compositor encodes,
// before it reaches the pushes (and the rooms it is fed back into).
// - LayoutVolume: the volume layout as JSON, payload type 100 by default — the canvas, and per tile the user, its
//   place, z-order and volume (0–100, the compositor's loudness of that user's decoded audio; 0 without audio) —
//   `{"app_data","canvas":{"w","h"},"regions":[{"uid","zorder","volume","x","y","w","h"}],"ver":"1.0","ts"}`, ts in
//   server seconds, app_data only when AppData was sent;
// - PassThrough: the caller's payload as it is, with its UUID for type 5 (user_data_unregistered).
// Each goes out every Interval ms of the stream's time (1000 by default), and with FollowIdr 1 also with every IDR
// frame, so a player that starts at a keyframe reads it at once. An SEI goes before the access unit's first slice.

import type { VideoFrame } from '../media/model.js';
import { seiNal, userDataUnregistered } from '../media/h264-sei.js';
import type { SeiSpec } from '../api/cdn-relay-service.js';

export interface LayoutRegions {
  canvas: { w: number; h: number };
  regions: { uid: string; zorder: number; volume: number; x: number; y: number; w: number; h: number }[];
}

export class SeiInserter {
  private lastLayout = -Infinity;
  private lastPass = -Infinity;

  constructor(
    private spec: SeiSpec,
    private readonly layout: () => LayoutRegions,
  ) {}

  /** UpdatePublishCdnStream's SeiParams: from the next frame on. */
  set(spec: SeiSpec): void {
    this.spec = spec;
    this.lastLayout = this.lastPass = -Infinity;
  }

  /** The frame with the SEI messages due at its time, or itself when none is due. */
  apply(frame: VideoFrame): VideoFrame {
    const sei: Buffer[] = [];
    const { layoutVolume: lv, passThrough: pt } = this.spec;
    if (lv && this.due(frame, lv, this.lastLayout)) {
      this.lastLayout = frame.pts;
      sei.push(seiNal(lv.payloadType, Buffer.from(JSON.stringify(this.layoutJson(lv.appData)))));
    }
    if (pt && this.due(frame, pt, this.lastPass)) {
      this.lastPass = frame.pts;
      const content = Buffer.from(pt.content);
      sei.push(seiNal(pt.payloadType, pt.payloadType === 5 ? userDataUnregistered(pt.uuid!, content) : content));
    }
    if (sei.length === 0) return frame;
    const firstSlice = frame.nalus.findIndex((n) => (n[0]! & 0x1f) >= 1 && (n[0]! & 0x1f) <= 5);
    const at = firstSlice < 0 ? frame.nalus.length : firstSlice;
    return { ...frame, nalus: [...frame.nalus.slice(0, at), ...sei, ...frame.nalus.slice(at)] };
  }

  private due(frame: VideoFrame, s: { intervalMs: number; followIdr: boolean }, last: number): boolean {
    return (s.followIdr && frame.keyframe) || frame.pts - last >= s.intervalMs || frame.pts < last;
  }

  private layoutJson(appData: string | undefined): Record<string, unknown> {
    const { canvas, regions } = this.layout();
    return { ...(appData !== undefined ? { app_data: appData } : {}), canvas, regions, ver: '1.0', ts: Math.floor(Date.now() / 1000) };
  }
}
