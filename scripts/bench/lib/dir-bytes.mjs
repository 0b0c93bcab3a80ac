// How much a recorder has written: the bytes of every file under a directory, for a benchmark's "files really grow"
// check (a recording case measured while nothing is written would show no cost and prove nothing).

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** { bytes, files } under `dir`, recursively; a file removed while walking (a renamed .tmp) is skipped. */
export function dirBytes(dir) {
  let bytes = 0;
  let files = 0;
  let entries = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return { bytes, files };
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const sub = dirBytes(p);
      bytes += sub.bytes;
      files += sub.files;
    } else {
      try {
        bytes += statSync(p).size;
        files++;
      } catch {}
    }
  }
  return { bytes, files };
}
