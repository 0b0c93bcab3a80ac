#!/usr/bin/env node
// Builds roomgate's native addon (native/build/Release/media.node: AAC → Opus, the media engine — RTMP and WHIP
// inputs, SRTP + sendmmsg for viewers' RTP, taps — and the test-only bindings on its `testing` export) with npm's
// bundled node-gyp.
//
//   node scripts/build-native.mjs            build unless the addon is newer than its sources
//   node scripts/build-native.mjs --force    always rebuild
//   node scripts/build-native.mjs --verbose  show node-gyp's own log
//
// Never lets node-gyp download Node headers: when the distribution's headers are installed
// (/usr/include/node/node_api.h on Debian) it passes --nodedir=/usr.
// System libraries come from pkg-config: libavcodec libavutil libswresample opus (SRTP uses Node's own OpenSSL).

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const addon = join(nativeDir, 'build', 'Release', 'media.node');
const force = process.argv.includes('--force') || process.argv.includes('-f');
const PKGS = ['libavformat', 'libavcodec', 'libavutil', 'libswresample', 'opus'];
const APT_HINT = 'apt-get install libavformat-dev libavcodec-dev libswresample-dev libopus-dev pkg-config';

function fail(msg) {
  console.error(`build-native: ${msg}`);
  process.exit(1);
}

function newestMtime(paths) {
  let newest = 0;
  const visit = (p) => {
    let st;
    try {
      st = statSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) for (const e of readdirSync(p)) visit(join(p, e));
    else newest = Math.max(newest, st.mtimeMs);
  };
  for (const p of paths) visit(p);
  return newest;
}

const require = createRequire(import.meta.url);

// ---- up to date? (newer than every source, and still loads — e.g. after a libavcodec upgrade)
// shared-limits.json: the numbers the plane shares with TypeScript, compiled in as a generated header (binding.gyp).
const sources = [
  join(nativeDir, 'binding.gyp'),
  join(nativeDir, 'src'),
  join(root, 'src', 'media', 'shared-limits.json'),
  join(root, 'scripts', 'gen-shared-limits.mjs'),
  fileURLToPath(import.meta.url),
];
const newestSource = newestMtime(sources);
const upToDate = (f) => existsSync(f) && statSync(f).mtimeMs > newestSource;
if (!force && upToDate(addon)) {
  try {
    require(addon);
    console.log('build-native: native/build/Release/media.node is up to date');
    process.exit(0);
  } catch (e) {
    console.warn(`build-native: existing addon does not load (${e instanceof Error ? e.message : e}); rebuilding`);
  }
}

// ---- system libraries
const pc = spawnSync('pkg-config', ['--exists', '--print-errors', ...PKGS], { encoding: 'utf8' });
if (pc.error || pc.status !== 0) {
  const detail = pc.error ? 'pkg-config not found' : (pc.stderr || '').trim();
  fail(`missing system libraries (${PKGS.join(', ')}): ${detail}\n  fix: ${APT_HINT}`);
}

// ---- node-gyp: npm's bundled copy first, then one in node_modules
const candidates = [
  join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
  '/usr/local/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
];
try {
  candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
} catch {
  /* not installed locally */
}
const nodeGyp = candidates.find((p) => existsSync(p));
if (!nodeGyp) fail(`node-gyp not found (looked in: ${candidates.join(', ')})`);

// ---- Node headers: never download
const verbose = process.argv.includes('--verbose') || process.argv.includes('-v');
const args = [nodeGyp, 'rebuild', ...(verbose ? [] : ['--loglevel=warn'])];
const prefix = resolve(dirname(process.execPath), '..');
const headerDirs = [...new Set([prefix, '/usr'])];
const nodedir = headerDirs.find((d) => existsSync(join(d, 'include', 'node', 'node_api.h')));
if (nodedir) args.push(`--nodedir=${nodedir}`);
else console.warn('build-native: no local Node headers found (include/node/node_api.h); node-gyp may try to download them');

if (!existsSync(join(root, 'node_modules', 'node-addon-api'))) fail('node-addon-api is not installed (run npm install)');

console.log(`build-native: node ${args.map((a) => (a === nodeGyp ? 'node-gyp' : a)).join(' ')} (in native/)`);
const t0 = Date.now();
const r = spawnSync(process.execPath, args, { cwd: nativeDir, stdio: 'inherit', env: { ...process.env } });
if (r.error) fail(r.error.message);
if (r.status !== 0) fail(`node-gyp failed with exit code ${r.status}`);
if (!existsSync(addon)) fail(`node-gyp succeeded but ${addon} is missing`);

// ---- smoke-load the result
try {
  const mod = require(addon);
  if (typeof mod.RtmpPlane !== 'function') throw new Error('RtmpPlane export missing');
  const v = mod.libraryVersions();
  console.log(`build-native: built ${addon.slice(root.length + 1)} in ${((Date.now() - t0) / 1000).toFixed(1)} s (avcodec ${v.avcodec}, swresample ${v.swresample}, ${v.opus})`);
} catch (e) {
  fail(`built addon does not load: ${e instanceof Error ? e.message : e}`);
}
