// The compositor child's wire: orders written to its stdin and events read from its fd 3, one JSON object per
// line each (native/mix/compositor.py is the other side).

import type { MixRect } from './layout.js';

/** A tile for setLayout: an input's id (null: an empty slot) and where it goes. */
export type CompositorTile = { id: string | null } & Pick<MixRect, 'x' | 'y' | 'width' | 'height' | 'zOrder' | 'alpha' | 'renderMode'>;

export interface InputStats {
  bytesIn: number;
  videoFrames: number;
  audioFrames: number;
  /** Times the input's timeline was moved (a jump in its timestamps, a stall, clock drift, a delay trimmed). */
  reanchors: number;
  /** Its audio's loudness as decoded, 0 (−60 dBFS or quieter, or no audio) to 100 (0 dBFS), linear in dB. */
  level: number;
}

export interface CompositorStats {
  seconds: number;
  framesOut: number;
  audioFramesOut: number;
  bytesOut: number;
  /** Output frames ÷ (seconds × fps) since the start; 1.0 is real time. */
  speed: number;
  /** The same over the last stats interval. */
  windowSpeed: number | null;
  inputs: Record<string, InputStats>;
}

/** Tiles for setLayout from layout rects; an input's id is its user's unless `inputId` says otherwise (e.g. an aux stream). */
export function tilesFromRects(rects: readonly MixRect[], inputId: (r: MixRect) => string | null = (r) => r.userId): CompositorTile[] {
  return rects.map((r) => ({ id: inputId(r), x: r.x, y: r.y, width: r.width, height: r.height, zOrder: r.zOrder, alpha: r.alpha, renderMode: r.renderMode }));
}

export type CompositorOrder =
  | { op: 'add'; id: string; path: string; video: boolean; audio: boolean; volume: number }
  | { op: 'remove'; id: string }
  /** The input's audio gain in the mix: 1 as it comes, 0 silent. */
  | { op: 'volume'; id: string; volume: number }
  | { op: 'layout'; rects: readonly CompositorTile[]; background: string }
  | { op: 'stop' };

export type CompositorEvent =
  | { event: 'ready'; pid: number }
  | { event: 'fatal'; message: string; package?: string }
  | { event: 'input-added'; id: string }
  | { event: 'input-stream'; id: string; kind: 'video' | 'audio'; codec: 'h264' | 'aac' | 'opus' }
  | { event: 'input-ended'; id: string }
  | { event: 'input-removed'; id: string }
  | { event: 'input-failed'; id: string; reason: string }
  | { event: 'error'; op?: string; id?: string; message: string }
  | ({ event: 'stats' } & CompositorStats);

export function orderLine(order: CompositorOrder): string {
  return JSON.stringify(order) + '\n';
}
