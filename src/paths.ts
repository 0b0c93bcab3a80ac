// Where the repository's own files are, whether the code runs compiled (dist/src/…) or from a test.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'config'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('roomgate: cannot find the repository root (package.json + config/)');
    dir = parent;
  }
}

export const repoRoot = findRoot();

export function repoPath(rel: string): string {
  return join(repoRoot, rel);
}
