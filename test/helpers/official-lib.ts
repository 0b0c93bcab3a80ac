// What the tests against Tencent's official libraries and published vectors share: the vectors' app, key and time,
// and a pinned clock, since the official libraries read Date.now() themselves.

export const VECTOR_APP = 1400000000;
export const VECTOR_KEY = '5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e';
export const VECTOR_T0 = 1700000000;

/** Runs `fn` with Date.now() pinned to `seconds` (Unix time). */
export function withClock<T>(seconds: number, fn: () => T): T {
  const real = Date.now;
  Date.now = () => seconds * 1000;
  try {
    return fn();
  } finally {
    Date.now = real;
  }
}
