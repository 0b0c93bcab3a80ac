// The compositor child's wire: orders written to its stdin and events read from its fd 3, one JSON object per
// line each (native/mix/compositor.py is the other side).

import type { CompositorStats, CompositorTile } from './compositor.js';

export type CompositorOrder =
  | { op: 'add'; id: string; path: string; video: boolean; audio: boolean }
  | { op: 'remove'; id: string }
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
