// Storage down for 20 s in the middle of a recording (issue 17): the store (s3rver) is stopped right after a 12 MB
// MP4 started going up; the "recorder" keeps producing a segment and a new playlist every 2 s, then the store comes
// back on the same port and directory. With the queue's real backoff (1 s doubling, capped at 30 s) everything ends up stored,
// byte for byte; `failed` and `recovered` fire; no local file is removed before the store has it.
// Alone in its file: it takes about 40 s.

import t from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { S3Storage } from '../../src/record/storage/s3-storage.js';
import { UploadQueue, type FailedEvent, type UploadedEvent } from '../../src/record/storage/upload-queue.js';
import { S3RVER_KEYS, startS3rver } from '../helpers/s3rver.js';

const BUCKET = 'outage-bucket';
const TASK = 'b3V0YWdlLXRhc2s.';
const PREFIX = `prefix1/prefix2/${TASK}/`;
const s3 = await startS3rver([BUCKET]);
const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rec-outage-'));
t.teardown(async () => {
  await s3.close();
  await fs.rm(dir, { recursive: true, force: true });
});

// Its own timeout, so it holds when the file is run with node directly too (tap's default there is 30 s).
t.setTimeout(120_000);

t.test('storage down for 20 s: uploads resume, nothing is lost, nothing removed early', async (t) => {
  const cs = { Vendor: 0, Region: 'ap-test', Bucket: BUCKET, ...S3RVER_KEYS, FileNamePrefix: ['prefix1', 'prefix2'] };
  const storage = new S3Storage(cs, TASK, { '0': s3.endpoint });
  t.teardown(() => storage.destroy());
  const q = new UploadQueue(storage); // the real backoff
  const uploaded: UploadedEvent[] = [];
  const failed: FailedEvent[] = [];
  const recovered: string[] = [];
  const removedEarly: string[] = [];
  q.on('failed', (e) => {
    failed.push(e);
    if (!existsSync(e.localPath)) removedEarly.push(e.localPath);
  });
  q.on('uploaded', (e) => uploaded.push(e));
  q.on('recovered', (e) => recovered.push(e.key));

  // What each key should end up holding: the last bytes written for it.
  const expected = new Map<string, Buffer>();
  const playlist = path.join(dir, 'index.m3u8');
  let playlistText = '#EXTM3U\n#EXT-X-VERSION:3\n';
  let seg = 0;
  const addSegment = async (size = 20_000 + seg * 100) => {
    const key = `seg_${seg++}.ts`;
    const bytes = crypto.randomBytes(size);
    await fs.writeFile(path.join(dir, key), bytes);
    expected.set(key, bytes);
    q.enqueue(path.join(dir, key), key, { removeAfter: true });
    // The playlist is rewritten atomically and re-enqueued after each segment, as the recorder does.
    playlistText += `#EXTINF:2.000\n${key}\n`;
    await fs.writeFile(`${playlist}.tmp`, playlistText);
    await fs.rename(`${playlist}.tmp`, playlist);
    expected.set('index.m3u8', Buffer.from(playlistText));
    q.enqueue(playlist, 'index.m3u8', { removeAfter: false });
  };

  for (let i = 0; i < 3; i++) await addSegment();
  t.same(await q.drain(30_000), { complete: true, left: [] }, 'up: the first segments are stored');
  t.equal(failed.length, 0);

  // Mid-queue: a big MP4 and two segments are enqueued and the store goes away under them.
  const mp4 = crypto.randomBytes(12 * 1024 * 1024);
  await fs.writeFile(path.join(dir, 'rec_1.mp4'), mp4);
  expected.set('rec_1.mp4', mp4);
  q.enqueue(path.join(dir, 'rec_1.mp4'), 'rec_1.mp4', { removeAfter: true });
  await addSegment();
  await s3.stop();
  const downAt = Date.now();
  await addSegment();

  // Recording goes on for 20 s with the store down.
  const outageFiles: string[] = [path.join(dir, 'rec_1.mp4')];
  while (Date.now() - downAt < 20_000) {
    await new Promise((r) => setTimeout(r, 2000));
    await addSegment();
    outageFiles.push(path.join(dir, `seg_${seg - 1}.ts`));
  }
  t.ok(failed.length > 0, `failed fired ${failed.length} times while down`);
  t.ok(
    failed.every((f) => /^(ECONNREFUSED|ECONNRESET|EPIPE)$/.test(f.code)),
    `connection-level codes: ${[...new Set(failed.map((f) => f.code))].join(', ')}`,
  );
  t.ok(failed.every((f) => f.retryInMs !== null && f.retryInMs <= 30_000), 'each failure is retried, within 30 s');
  t.ok(outageFiles.every((p) => existsSync(p)), 'every file made while down is still on disk');
  t.ok(q.pending() >= outageFiles.length, `${q.pending()} files waiting`);
  t.equal(recovered.length, 0, 'no recovery while down');

  await s3.start();
  const upAt = Date.now();
  const result = await q.drain(90_000);
  t.same(result, { complete: true, left: [] }, `everything uploaded, ${((Date.now() - upAt) / 1000).toFixed(1)} s after the store came back`);
  t.equal(recovered.length, 1, 'recovered fired once');
  t.same(removedEarly, [], 'no failing file had been removed');

  const listed = new Map((await s3.list(BUCKET, PREFIX)).map((o) => [o.key.slice(PREFIX.length), o.size]));
  t.same([...listed.keys()].sort(), [...expected.keys()].sort(), `all ${expected.size} files listed`);
  for (const [key, bytes] of expected) {
    const got = (await s3.get(BUCKET, PREFIX + key)).body;
    if (!got.equals(bytes)) t.fail(`${key}: stored ${got.length} bytes differ from the ${bytes.length} written`);
  }
  t.pass('every stored file equals what was written, the playlist its newest version');
  for (const key of expected.keys()) {
    if (key === 'index.m3u8') continue;
    t.equal(uploaded.filter((u) => u.key === key).length, 1, `${key}: uploaded once`);
    t.notOk(existsSync(path.join(dir, key)), `${key}: local copy removed after upload`);
  }
  t.ok(existsSync(playlist), 'the playlist (removeAfter: false) stays');
  t.same(await q.close(1000), { complete: true, left: [] });
});
