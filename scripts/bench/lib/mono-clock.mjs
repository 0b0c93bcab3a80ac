// The clock the e2e benchmark's processes share: CLOCK_MONOTONIC in milliseconds (what process.hrtime reads), the
// same for every process on the machine and never slewed. performance.now() runs on the same clock from a
// per-process origin; that origin is measured here with care, because the first access to `performance` loads
// perf_hooks lazily (about 1 ms, more on a busy machine), which would otherwise skew each process differently.

const hr = () => Number(process.hrtime.bigint()) / 1e6;

function measureBase() {
  performance.now(); // warm up: the lazy load happens here, outside the measurement
  let best = Infinity;
  let base = 0;
  for (let i = 0; i < 21; i++) {
    const a = hr();
    const p = performance.now();
    const b = hr();
    if (b - a < best) {
      best = b - a;
      base = (a + b) / 2 - p;
    }
  }
  return base;
}

/** CLOCK_MONOTONIC minus performance.now(), for this process. */
export const monoBase = measureBase();

/** Now, in ms on CLOCK_MONOTONIC. */
export const mono = () => performance.now() + monoBase;

/** An epoch time made as performance.timeOrigin + performance.now() (whep-viewer's), on CLOCK_MONOTONIC; 0 stays 0. */
export const fromEpoch = (t) => (t ? t - performance.timeOrigin + monoBase : 0);
