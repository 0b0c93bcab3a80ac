// Loads one of native/build/Release/*.node. A missing or broken addon is not an error here: callers fall back to a
// JavaScript path and keep the reason for their log line.

import { createRequire } from 'node:module';
import { repoPath } from '../paths.js';

export function requireAddon<T>(name: string): { mod: T | null; error: string } {
  try {
    return { mod: createRequire(import.meta.url)(repoPath(`native/build/Release/${name}.node`)) as T, error: '' };
  } catch (e) {
    return { mod: null, error: `${e instanceof Error ? e.message : String(e)} (build it: node scripts/build-native.mjs)` };
  }
}
