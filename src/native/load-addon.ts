// Loads one of native/build/Release/*.node. A missing or broken addon is not an error here: callers decide (the media
// engine refuses to start and says why; the WHIP receiver lets werift decrypt) and keep the reason for their message.

import { createRequire } from 'node:module';
import { repoPath } from '../paths.js';

export function requireAddon<T>(name: string): { mod: T | null; error: string } {
  try {
    return { mod: createRequire(import.meta.url)(repoPath(`native/build/Release/${name}.node`)) as T, error: '' };
  } catch (e) {
    return { mod: null, error: `${e instanceof Error ? e.message : String(e)} (build it: node scripts/build-native.mjs)` };
  }
}
