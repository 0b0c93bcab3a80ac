// Seeded PRNG (mulberry32, as test/helpers/random.ts) and a per-case seed, so any one case can be re-run alone.

export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** The PRNG of case `index` in a run with `seed`: independent of how many cases ran before or beside it. */
export function caseRandom(seed, index) {
  const r = mulberry32((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  r(); // the first output of mulberry32 is poorly mixed for neighbouring seeds
  return r;
}
