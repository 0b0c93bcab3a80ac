// Layout geometry against the numbers of trtc-egress.md §2.5, on a 1920×1080 canvas (most of the reference's
// fractions are whole pixels there; the others are checked to the nearest pixel).

import t, { type Test } from 'tap';
import { layoutRects, type MixLayoutSpec, type MixRect, type PresentUser } from '../../src/mix/layout.js';

const W = 1920;
const H = 1080;
const canvas = { width: W, height: H };
const users = (n: number, audioOnly: number[] = []): PresentUser[] =>
  Array.from({ length: n }, (_, i) => ({ userId: `u${i + 1}`, hasVideo: !audioOnly.includes(i + 1) }));
const spec = (over: Partial<MixLayoutSpec>): MixLayoutSpec => ({
  mode: 3, rects: [], background: '#000000', maxResolutionUserId: null, maxResolutionMediaId: 0, maxResolutionUserAlign: 0, renderMode: 1,
  pureAudioDisableLayout: false, placeHolderMode: 0, ...over,
});
const box = (r: MixRect) => [r.x, r.y, r.width, r.height];
const near = (a: number, b: number) => Math.abs(a - b) <= 0.5 + 1e-9; // a pixel edge is the exact one rounded
const nearSize = (a: number, b: number) => Math.abs(a - b) < 1; // a size is the distance between two rounded edges

function noOverlap(t: Test, rects: MixRect[]) {
  for (let i = 0; i < rects.length; i++) {
    for (let j = i + 1; j < rects.length; j++) {
      const [a, b] = [rects[i], rects[j]];
      const apart = a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y;
      if (!apart) t.fail(`rects ${i} and ${j} overlap: ${box(a)} / ${box(b)}`);
    }
  }
}

function inside(t: Test, rects: MixRect[]) {
  for (const r of rects) {
    if (r.x < 0 || r.y < 0 || r.width <= 0 || r.height <= 0 || r.x + r.width > W || r.y + r.height > H) t.fail(`off the canvas: ${box(r)}`);
  }
}

t.test('grid (mode 3): equal tiles, row by row from the top left', async (t) => {
  // n → [columns, rows] of the reference: 1 whole, 2 halves, ≤4 quarters, ≤9 ninths, ≤16 sixteenths, >16 25ths
  const table: Record<number, [number, number]> = { 1: [1, 1], 2: [2, 1], 3: [2, 2], 4: [2, 2], 5: [3, 3], 9: [3, 3], 10: [4, 4], 17: [5, 5], 25: [5, 5] };
  for (const [n, [cols, rows]] of Object.entries(table).map(([k, v]) => [Number(k), v] as const)) {
    const rects = layoutRects(spec({ mode: 3 }), canvas, users(n));
    t.equal(rects.length, n, `n=${n}: one tile each`);
    t.same(rects.map((r) => r.userId), users(n).map((u) => u.userId), `n=${n}: entry order`);
    rects.forEach((r, i) => {
      const [c, row] = [i % cols, Math.floor(i / cols)];
      t.ok(near(r.x, (c * W) / cols) && near(r.y, (row * H) / rows), `n=${n} #${i} at column ${c}, row ${row}`);
      t.ok(nearSize(r.width, W / cols) && nearSize(r.height, H / rows), `n=${n} #${i} is W/${cols} × H/${rows}`);
    });
    t.match(rects[0], { zOrder: 0, alpha: 0, renderMode: 1, mediaId: 0 });
    noOverlap(t, rects);
    inside(t, rects);
  }
  t.same(box(layoutRects(spec({ mode: 3 }), canvas, users(2))[1]), [960, 0, 960, 1080], 'two: right half');
  t.same(layoutRects(spec({ mode: 3 }), canvas, users(9)).map(box)[8], [1280, 720, 640, 360], 'nine: bottom right ninth');
  t.same(layoutRects(spec({ mode: 3 }), canvas, users(17)).map(box)[16], [384, 648, 384, 216], '17: second of the fourth row, 384×216');
  t.equal(layoutRects(spec({ mode: 3 }), canvas, users(30)).length, 25, 'at most 25 pictures');
  t.same(layoutRects(spec({ mode: 3 }), canvas, []), [], 'nobody: no tiles');
});

t.test('floating (mode 1): big first user, small ones from the bottom left', async (t) => {
  for (const n of [1, 2, 3, 4, 5, 9, 10, 17, 25]) {
    const rects = layoutRects(spec({ mode: 1, renderMode: 2 }), canvas, users(n));
    t.equal(rects.length, n, `n=${n}`);
    t.same(box(rects[0]), [0, 0, W, H], `n=${n}: the first user fills the canvas`);
    t.equal(rects[0].userId, 'u1');
    t.equal(rects[0].zOrder, 0);
    const [perRow, size, gap] = n <= 17 ? [4, 0.235, 0.012] : [5, 0.188, 0.01];
    rects.slice(1).forEach((r, i) => {
      const [c, row] = [i % perRow, Math.floor(i / perRow)];
      t.ok(nearSize(r.width, size * W) && nearSize(r.height, size * H), `n=${n} small #${i}: ${size} of the canvas`);
      t.ok(near(r.x, W * (gap + c * (size + gap))), `n=${n} small #${i}: column ${c} from the left margin`);
      t.ok(near(r.y + r.height, H * (1 - gap - row * (size + gap))), `n=${n} small #${i}: row ${row} from the bottom margin`);
      t.equal(r.zOrder, 1, 'floats above the big picture');
      t.equal(r.userId, `u${i + 2}`, 'entry order');
      t.equal(r.renderMode, 2, "the template's RenderMode");
    });
    noOverlap(t, rects.slice(1));
    inside(t, rects);
  }
  // 0.235 × 1920 = 451.2, 0.012 × 1920 = 23.04; 0.235 × 1080 = 253.8, bottom margin 12.96.
  t.same(box(layoutRects(spec({ mode: 1 }), canvas, users(2))[1]), [23, 813, 451, 254], 'first small, in pixels');
  const named = layoutRects(spec({ mode: 1, maxResolutionUserId: 'u3' }), canvas, users(3));
  t.same(named.map((r) => r.userId), ['u3', 'u1', 'u2'], 'MaxResolutionUserId takes the big picture');
  const absent = layoutRects(spec({ mode: 1, maxResolutionUserId: 'late' }), canvas, users(2));
  t.same(absent.map((r) => r.userId), ['late', 'u1', 'u2'], 'a named user not yet in the room keeps the big slot');
  t.equal(layoutRects(spec({ mode: 1 }), canvas, users(30)).length, 25, 'at most 25 pictures');
  t.same(layoutRects(spec({ mode: 1 }), canvas, []), [], 'nobody: nothing');
});

t.test('screen-share (mode 2): big picture left, columns on the right', async (t) => {
  // n → [small width, small height, big width, big height] as fractions, from the reference
  const table: Record<number, [number, number, number, number]> = {
    1: [1 / 5, 1 / 4, 4 / 5, 1], 2: [1 / 5, 1 / 4, 4 / 5, 1], 3: [1 / 5, 1 / 4, 4 / 5, 1], 4: [1 / 5, 1 / 4, 4 / 5, 1], 5: [1 / 5, 1 / 4, 4 / 5, 1],
    9: [1 / 9, 1 / 8, 8 / 9, 1], 10: [1 / 10, 1 / 8, 4 / 5, 1], 17: [1 / 10, 1 / 8, 4 / 5, 1], 25: [1 / 10, 1 / 8, 4 / 5, 7 / 8],
  };
  for (const [n, [sw, sh, bw, bh]] of Object.entries(table).map(([k, v]) => [Number(k), v] as const)) {
    // The big picture counts among the n; the shared screen is u1.
    const rects = layoutRects(spec({ mode: 2, maxResolutionUserId: 'u1' }), canvas, users(n));
    t.equal(rects.length, n, `n=${n}`);
    t.equal(rects[0].userId, 'u1');
    t.ok(nearSize(rects[0].width, bw * W) && nearSize(rects[0].height, bh * H) && rects[0].x === 0 && rects[0].y === 0, `n=${n}: big ${bw.toFixed(3)}W × ${bh.toFixed(3)}H at the left`);
    const small = rects.slice(1);
    small.forEach((r, i) => {
      t.ok(nearSize(r.width, sw * W) && nearSize(r.height, sh * H), `n=${n} small #${i}: ${sw.toFixed(3)}W × ${sh.toFixed(3)}H`);
      if (i < 16) t.ok(r.x >= rects[0].width, `n=${n} small #${i}: right of the big picture`);
      else t.ok(near(r.y, bh * H) && near(r.x, (i - 16) * sw * W), `n=${n} small #${i}: along the bottom from the left`);
    });
    // top to bottom, at most 8 per column
    const columns = new Map<number, MixRect[]>();
    for (const r of small.slice(0, 16)) columns.set(r.x, [...(columns.get(r.x) ?? []), r]);
    for (const col of columns.values()) {
      t.ok(col.length <= 8, 'eight per column at most');
      t.ok(col.every((r, i) => i === 0 || r.y > col[i - 1].y), 'top to bottom');
      t.equal(col[0].y, 0, 'from the top');
    }
    t.ok(columns.size <= 2, 'two columns at most');
    noOverlap(t, rects);
    inside(t, rects);
  }
  const seven = layoutRects(spec({ mode: 2, maxResolutionUserId: 'u1' }), canvas, users(7));
  t.same(box(seven[0]), [0, 0, 1646, 1080], 'n=7: big 6/7 of the width (1645.7)');
  t.same(box(seven[1]), [1646, 0, 274, 180], 'n=7: small 1/7 × 1/6');
  t.same(box(layoutRects(spec({ mode: 2, maxResolutionUserId: 'u1' }), canvas, users(5))[4]), [1536, 810, 384, 270], 'n=5: fourth small at the bottom right');
  const unset = layoutRects(spec({ mode: 2 }), canvas, users(3));
  t.same(unset.map((r) => r.userId), [null, 'u1', 'u2', 'u3'], 'no MaxResolutionUserId: the big slot shows the background');
  const right = layoutRects(spec({ mode: 2, maxResolutionUserId: 'u1', maxResolutionUserAlign: 1 }), canvas, users(3));
  t.same(right.map(box), [[384, 0, 1536, 1080], [0, 0, 384, 270], [0, 270, 384, 270]], 'MaxResolutionUserAlign 1: big right, small left');
  t.equal(layoutRects(spec({ mode: 2, maxResolutionUserId: 'u1' }), canvas, users(30)).length, 25, '24 small ones beside the big one');
});

t.test('PureAudioDisableLayout: audio-only users take no slot in templates', async (t) => {
  const present = users(4, [2]);
  t.same(layoutRects(spec({ mode: 3 }), canvas, present).map((r) => r.userId), ['u1', 'u2', 'u3', 'u4'], 'default: they do');
  const without = layoutRects(spec({ mode: 3, pureAudioDisableLayout: true }), canvas, present);
  t.same(without.map((r) => r.userId), ['u1', 'u3', 'u4']);
  t.same(box(without[2]), [0, 540, 960, 540], 'three pictures: quarters');
  t.same(layoutRects(spec({ mode: 1, pureAudioDisableLayout: true }), canvas, users(2, [1])).map((r) => r.userId), ['u2'], 'floating: the big picture goes to the first user with video');
});

t.test('custom (mode 4): named slots kept, the others filled in entry order', async (t) => {
  const r = (x: number, userId: string | null, extra: Partial<MixRect> = {}): MixRect => ({
    x, y: 10, width: 100, height: 80, userId, alpha: 0, renderMode: 1, mediaId: 0, zOrder: 0, ...extra,
  });
  const rects = [r(0, null, { alpha: 128, zOrder: 2 }), r(100, 'u3', { renderMode: 2 }), r(200, null), r(300, 'absent')];
  const out = layoutRects(spec({ mode: 4, rects }), canvas, users(4));
  t.same(out.map((x) => x.userId), ['u1', 'u3', 'u2', 'absent'], 'u3 keeps its slot, u1 and u2 fill the free ones, u4 is left out');
  t.same(out.map((x) => x.x), [0, 100, 200, 300], 'positions as given');
  t.match(out[0], { alpha: 128, zOrder: 2 }, 'alpha and ImageLayer as given');
  t.equal(out[1].renderMode, 2, "each rect's own RenderMode");
  t.same(layoutRects(spec({ mode: 4, rects }), canvas, users(1)).map((x) => x.userId), ['u1', 'u3', null, 'absent'], 'a free slot nobody fills is null');
  t.same(layoutRects(spec({ mode: 4, rects, pureAudioDisableLayout: true }), canvas, users(2, [1])).map((x) => x.userId)[0], 'u1', 'audio-only users fill custom slots');
});

t.test("a mixed relay's templates (TRTC's MCU): at most 16 pictures, screen-share's big picture fitted whole", async (t) => {
  const mcu = { maxPictures: 16 };
  t.equal(layoutRects(spec({ mode: 3, ...mcu }), canvas, users(20)).length, 16, 'grid: 16 tiles');
  t.same(box(layoutRects(spec({ mode: 3, ...mcu }), canvas, users(20))[15]), [1440, 810, 480, 270], 'grid: 4×4, the 16th at the bottom right');
  const floating = layoutRects(spec({ mode: 1, maxResolutionUserId: 'u2', ...mcu }), canvas, users(20));
  t.same(floating.map((r) => r.userId), ['u2', 'u1', ...Array.from({ length: 14 }, (_, i) => `u${i + 3}`)], 'floating: 1 big + 15 small, the named user big');
  t.ok(floating.slice(1).every((r) => nearSize(r.width, 0.235 * W)), 'floating: 4 per row, as for 16 pictures');
  const share = layoutRects(spec({ mode: 2, maxResolutionUserId: 'u3', bigRenderMode: 2, renderMode: 1, ...mcu }), canvas, users(20));
  t.equal(share.length, 16, 'screen-share: 1 big + 15 small');
  t.equal(share[0].userId, 'u3', 'the named user is big');
  t.equal(share[0].renderMode, 2, 'the big picture fitted (bigRenderMode)');
  t.ok(share.slice(1).every((r) => r.renderMode === 1), 'the small ones cropped (renderMode)');
  t.equal(layoutRects(spec({ mode: 2, maxResolutionUserId: 'u1', renderMode: 1 }), canvas, users(3))[0].renderMode, 1, 'no bigRenderMode: renderMode for all');
  t.equal(layoutRects(spec({ mode: 2, maxResolutionUserId: 'u1', bigRenderMode: 2, renderMode: 1, maxResolutionUserAlign: 1 }), canvas, users(3))[0].renderMode, 2, 'mirrored too');
});
