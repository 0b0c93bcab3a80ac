// Where each picture of a mixed stream goes: TRTC's layout templates (trtc-egress.md §2.5) and custom layouts
// turned into pixel rectangles on the canvas. Pure geometry; the compositor (compositor.ts) draws them.
//
// Choices where the reference says nothing:
// - Edges are the reference's fractions of the canvas rounded to the nearest pixel, and a size is the distance
//   between two rounded edges, so tiles that touch in the reference touch here (no 1-pixel seams) and sizes differ
//   by at most a pixel.
// - Grid: row by row from the top left; a last row that is not full stays left-aligned.
// - Floating and screen-share: the big picture counts as one of the n pictures (the reference's sizes only add up
//   that way: "five or fewer" = the big one and four in a column of quarters). A MaxResolutionUserId who is not in
//   the room keeps the big slot (it shows the background until they come), as an unset one does in screen-share.
// - Screen-share: the column beside the big picture fills first, top to bottom; with MaxResolutionUserAlign 1 the
//   whole layout is mirrored.
// - Pictures past a template's maximum (25; 24 small ones beside a big one; a mixed relay's MCU: 16) get no rect:
//   they are not shown.
// - PlaceHolderMode changes no geometry: an empty slot shows the background either way (no placeholder images).

// The layout's shapes are the API's (one definition, checked there when a request arrives).
export type { MixLayoutSpec, MixRect } from '../api/cloud-recording-service.js';
import type { MixLayoutSpec, MixRect } from '../api/cloud-recording-service.js';

export interface Canvas {
  width: number;
  height: number;
}

/** A user the recording subscribes to, in the order they entered the room. */
export interface PresentUser {
  userId: string;
  hasVideo: boolean;
}

export const MAX_PICTURES = 25;

/** The rectangles for the users present now, in drawing order of their slots. */
export function layoutRects(spec: MixLayoutSpec, canvas: Canvas, users: readonly PresentUser[]): MixRect[] {
  if (spec.mode === 4) return customRects(spec.rects, users);
  // Templates: an audio-only user takes a slot unless PureAudioDisableLayout says otherwise.
  const ids = users.filter((u) => u.hasVideo || !spec.pureAudioDisableLayout).map((u) => u.userId);
  const tile = (userId: string | null, e: Edges, zOrder = 0): MixRect => ({
    ...pixels(canvas, e),
    userId,
    alpha: 0,
    renderMode: spec.renderMode,
    mediaId: 0,
    zOrder,
  });
  const max = Math.min(spec.maxPictures ?? MAX_PICTURES, MAX_PICTURES);
  if (spec.mode === 3) return gridEdges(Math.min(ids.length, max)).map((e, i) => tile(ids[i], e));
  // Floating: the named user, else the first to enter; screen-share: the named user, else nobody (background).
  const big = spec.maxResolutionUserId ?? (spec.mode === 1 ? (ids[0] ?? null) : null);
  const small = ids.filter((id) => id !== big).slice(0, max - 1);
  if (spec.mode === 1) {
    if (big === null) return [];
    return [tile(big, { x0: 0, y0: 0, x1: 1, y1: 1 }), ...floatingEdges(small.length + 1).map((e, i) => tile(small[i], e, 1))];
  }
  const [bigEdges, ...smallEdges] = screenShareEdges(small.length + 1);
  const mirror = (e: Edges): Edges => (spec.maxResolutionUserAlign === 1 ? { ...e, x0: 1 - e.x1, x1: 1 - e.x0 } : e);
  const bigTile = { ...tile(big, mirror(bigEdges)), renderMode: spec.bigRenderMode ?? spec.renderMode };
  return [bigTile, ...smallEdges.map((e, i) => tile(small[i], mirror(e)))];
}

/** A rectangle as fractions of the canvas: left, top, right, bottom. */
interface Edges {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

function pixels(canvas: Canvas, e: Edges): Pick<MixRect, 'x' | 'y' | 'width' | 'height'> {
  const x = Math.round(e.x0 * canvas.width);
  const y = Math.round(e.y0 * canvas.height);
  return { x, y, width: Math.round(e.x1 * canvas.width) - x, height: Math.round(e.y1 * canvas.height) - y };
}

/** n equal tiles: 1 (whole), 2 (halves side by side), ≤4 (2×2), ≤9 (3×3), ≤16 (4×4), ≤25 (5×5). */
function gridEdges(n: number): Edges[] {
  if (n === 0) return [];
  const [cols, rows] = n === 1 ? [1, 1] : n === 2 ? [2, 1] : n <= 4 ? [2, 2] : n <= 9 ? [3, 3] : n <= 16 ? [4, 4] : [5, 5];
  return Array.from({ length: n }, (_, i) => {
    const c = i % cols;
    const r = Math.floor(i / cols);
    return { x0: c / cols, y0: r / rows, x1: (c + 1) / cols, y1: (r + 1) / rows };
  });
}

/** n - 1 small pictures over the big one, from the bottom left, rows of 4 (n ≤ 17) or 5. */
function floatingEdges(n: number): Edges[] {
  const [perRow, size, gap] = n <= 17 ? [4, 0.235, 0.012] : [5, 0.188, 0.01];
  return Array.from({ length: n - 1 }, (_, i) => {
    const c = i % perRow;
    const r = Math.floor(i / perRow); // 0 = the bottom row
    const x0 = gap + c * (size + gap);
    const y1 = 1 - gap - r * (size + gap);
    return { x0, y0: y1 - size, x1: x0 + size, y1 };
  });
}

/** The big picture first, then n - 1 small ones in columns on the right (and, past 17, along the bottom). */
function screenShareEdges(n: number): Edges[] {
  // [columns of small pictures, small width and height as fractions, big picture's height]
  const [cols, w, h, bigHeight] =
    n <= 5 ? [1, 1 / 5, 1 / 4, 1] : n <= 7 ? [1, 1 / 7, 1 / 6, 1] : n <= 9 ? [1, 1 / 9, 1 / 8, 1] : n <= 17 ? [2, 1 / 10, 1 / 8, 1] : [2, 1 / 10, 1 / 8, 7 / 8];
  const rows = Math.round(1 / h);
  const left = 1 - cols * w; // where the columns start: the big picture's width
  const out: Edges[] = [{ x0: 0, y0: 0, x1: left, y1: bigHeight }];
  for (let i = 0; i < n - 1; i++) {
    if (i < cols * rows) {
      const c = Math.floor(i / rows);
      const r = i % rows;
      out.push({ x0: left + c * w, y0: r * h, x1: left + (c + 1) * w, y1: (r + 1) * h });
    } else {
      const j = i - cols * rows; // the row under the big picture, from the left
      out.push({ x0: j * w, y0: bigHeight, x1: (j + 1) * w, y1: 1 });
    }
  }
  return out;
}

/**
 * Custom layout: a rect naming a user is kept for that user (present or not); rects without one are filled by the
 * present users no rect names, in entry order. Users left over get no picture (the MCU documentation adds that
 * they are not mixed at all, audio included; that is the caller's decision).
 */
function customRects(rects: readonly MixRect[], users: readonly PresentUser[]): MixRect[] {
  const named = new Set(rects.map((r) => r.userId).filter((id): id is string => id !== null));
  const waiting = users.map((u) => u.userId).filter((id) => !named.has(id));
  return rects.slice(0, MAX_PICTURES).map((r) => ({ ...r, userId: r.userId ?? waiting.shift() ?? null }));
}
