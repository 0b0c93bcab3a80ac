// The numbers the native data plane and its TypeScript twin share (src/media/shared-limits.json) are the ones the
// built addon was compiled with (its sharedLimits(), from the header generated from the same JSON).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { SHARED_LIMITS } from '../../src/media/shared-limits.js';
import { requireAddon } from '../../src/native/load-addon.js';
import { repoPath } from '../../src/paths.js';

const { mod, error } = requireAddon<{ sharedLimits(): Record<string, number> }>('media');

t.test('the TypeScript side reads every number of the JSON', async (t) => {
  const json = JSON.parse(readFileSync(repoPath('src/media/shared-limits.json'), 'utf8')) as Record<string, unknown>;
  delete json['$comment'];
  t.strictSame({ ...SHARED_LIMITS }, json);
});

t.test('the built addon was compiled with the same numbers', { skip: mod ? false : `addon not built: ${error}` }, async (t) => {
  t.strictSame(mod!.sharedLimits(), { ...SHARED_LIMITS });
});
