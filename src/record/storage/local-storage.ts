// The embedded default (`"StorageParams": {}`): a recording's files stay in its directory under `recording.dir`,
// where DescribeCloudRecording lists them and the playback route serves them. Nothing is copied, so put() only checks
// that the file the recorder announced is really there, under the name the key gives it.

import fs from 'node:fs/promises';
import path from 'node:path';
import { checkKey, StorageError, type Storage } from './storage.js';

export class LocalStorage implements Storage {
  readonly kind = 'local' as const;
  readonly dir: string;

  /** `dir` is the task's recording directory; keys are paths relative to it. */
  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  describe(key: string): string {
    return path.join(this.dir, key);
  }

  async put(localPath: string, key: string): Promise<void> {
    checkKey(key);
    const where = this.describe(key);
    // The file is its own stored copy, so it must be the one the key names: anything else would be listed under a
    // name that does not exist.
    if (path.resolve(localPath) !== where) {
      throw new StorageError(
        'WrongPath',
        `local recording storage keeps files where they were written: ${localPath} should be ${where} for key '${key}'`,
        true,
      );
    }
    let st;
    try {
      st = await fs.stat(where);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      const gone = code === 'ENOENT' || code === 'ENOTDIR';
      throw new StorageError(
        code,
        gone
          ? `recording file ${where} does not exist (removed, or never written): there is nothing to keep for '${key}'`
          : `recording file ${where} cannot be read (${code}): check the permissions of ${this.dir}`,
        gone,
      );
    }
    if (!st.isFile()) {
      const why = `recording file ${where} is not a regular file, so it cannot be kept for '${key}'`;
      throw new StorageError('NotAFile', why, true);
    }
  }
}
