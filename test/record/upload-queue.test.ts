// The upload queue driving a real S3Storage against s3rver on loopback: order and concurrency, a key replaced while
// it waits, a key re-enqueued while in flight, the store's refusals reported on every attempt, a vanished local
// file given up, drain/close reporting what is left, and local storage never losing its files.
// The 20 s outage is in upload-queue-outage.test.ts (slow, on its own).

import t from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalStorage } from '../../src/record/storage/local-storage.js';
import { S3Storage } from '../../src/record/storage/s3-storage.js';
import type { Storage } from '../../src/record/storage/storage.js';
import { UploadQueue, type FailedEvent, type UploadedEvent } from '../../src/record/storage/upload-queue.js';
import { S3RVER_KEYS, startS3rver } from '../helpers/s3rver.js';

const BUCKET = 'queue-bucket';
const TASK = 'cXVldWUtdGVzdHM.';
const PREFIX = `rec/${TASK}/`;
const s3 = await startS3rver([BUCKET]);
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'rec-queue-'));
t.teardown(async () => {
  await s3.close();
  await fs.rm(work, { recursive: true, force: true });
});

function s3Storage(over: Partial<{ AccessKey: string; Bucket: string }> = {}): S3Storage {
  const cs = { Vendor: 1, Region: 'us-east-1', Bucket: BUCKET, ...S3RVER_KEYS, FileNamePrefix: ['rec'], ...over };
  return new S3Storage(cs, TASK, { '1': s3.endpoint });
}

/** The real storage, with each put's start and end written down in the order they happen. */
class Watched implements Storage {
  readonly log: string[] = [];
  live = 0;
  maxLive = 0;
  constructor(readonly inner: Storage) {}
  get kind() {
    return this.inner.kind;
  }
  describe(key: string) {
    return this.inner.describe(key);
  }
  async put(localPath: string, key: string, signal?: AbortSignal) {
    this.log.push(`start ${key} ${path.basename(localPath)}`);
    this.maxLive = Math.max(this.maxLive, ++this.live);
    try {
      await this.inner.put(localPath, key, signal);
    } finally {
      this.live--;
      this.log.push(`end ${key} ${path.basename(localPath)}`);
    }
  }
  starts(key: string) {
    return this.log.filter((l) => l.startsWith(`start ${key} `));
  }
}

function record(q: UploadQueue) {
  const uploaded: UploadedEvent[] = [];
  const failed: FailedEvent[] = [];
  const recovered: string[] = [];
  let idle = 0;
  q.on('uploaded', (e) => uploaded.push(e));
  q.on('failed', (e) => failed.push(e));
  q.on('recovered', (e) => recovered.push(e.key));
  q.on('idle', () => idle++);
  return { uploaded, failed, recovered, idle: () => idle };
}

let n = 0;
async function file(bytes: Buffer | string, name = `f${n++}.ts`): Promise<string> {
  const p = path.join(work, `${n++}`, name);
  await fs.mkdir(path.dirname(p), { recursive: true });
  await fs.writeFile(p, bytes);
  return p;
}

const stored = async (key: string) => (await s3.get(BUCKET, PREFIX + key)).body;
const writesOf = (key: string) => s3.writes.filter((w) => w.key === PREFIX + key).length;
const nextEvent = <T>(q: UploadQueue, name: 'failed' | 'uploaded' | 'recovered') =>
  new Promise<T>((resolve) => q.once(name, (e: unknown) => resolve(e as T)));

t.test('uploads in order, two at a time, and removes a local file only once the store has it', async (t) => {
  const storage = new Watched(s3Storage());
  const q = new UploadQueue(storage);
  const ev = record(q);
  const files = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => file(crypto.randomBytes(50_000 + i))));
  const bytes = await Promise.all(files.map((p) => fs.readFile(p)));
  const keys = files.map((_, i) => `seg_${i}.ts`);
  const kept = await file('#EXTM3U\n', 'index.m3u8');
  files.forEach((p, i) => q.enqueue(p, keys[i]!, { removeAfter: true }));
  q.enqueue(kept, 'index.m3u8', { removeAfter: false });
  t.equal(q.pending(), 7);

  t.same(await q.drain(30_000), { complete: true, left: [] });
  t.equal(q.pending(), 0);
  t.same(
    storage.log.filter((l) => l.startsWith('start')).map((l) => l.split(' ')[1]),
    [...keys, 'index.m3u8'],
    'started in the order enqueued',
  );
  t.equal(storage.maxLive, 2, 'never more than two puts at once');
  for (const [i, key] of keys.entries()) {
    t.ok((await stored(key)).equals(bytes[i]!), `${key} stored intact`);
    t.notOk(existsSync(files[i]!), `${key}: local file removed`);
  }
  t.ok(ev.uploaded.filter((e) => e.key !== 'index.m3u8').every((e) => e.removed), 'each uploaded event says removed');
  t.ok(existsSync(kept), 'removeAfter: false keeps the local file');
  t.equal(ev.uploaded.find((e) => e.key === 'index.m3u8')?.removed, false);
  t.equal(ev.failed.length, 0);
  t.equal(ev.idle(), 1, 'idle once, at the end');
  t.same(await q.close(1000), { complete: true, left: [] });
  t.throws(() => q.enqueue(kept, 'late.m3u8', { removeAfter: false }), /upload queue is closed: .*late\.m3u8/);
});

t.test('a key enqueued again while it waits: only the newest is put, once', async (t) => {
  const storage = new Watched(s3Storage());
  const q = new UploadQueue(storage);
  const ev = record(q);
  // Two puts fill both slots, so the playlist versions behind them are still waiting when replaced.
  q.enqueue(await file(crypto.randomBytes(300_000)), 'a.ts', { removeAfter: true });
  q.enqueue(await file(crypto.randomBytes(300_000)), 'b.ts', { removeAfter: true });
  const versions = await Promise.all(['v1', 'v2 longer', 'v3 longest of all'].map((s) => file(s, 'p.m3u8')));
  for (const p of versions) q.enqueue(p, 'p.m3u8', { removeAfter: true });
  t.equal(q.pending(), 3, 'a, b and one playlist');

  t.same(await q.drain(30_000), { complete: true, left: [] });
  t.equal((await stored('p.m3u8')).toString(), 'v3 longest of all', 'the newest content is stored');
  t.equal(ev.uploaded.filter((e) => e.key === 'p.m3u8').length, 1, 'one uploaded event for the playlist');
  t.equal(storage.starts('p.m3u8').length, 1, 'one put');
  t.equal(writesOf('p.m3u8'), 1, 'one write seen by the store');
  t.equal(ev.uploaded.length, 3);
  t.notOk(existsSync(versions[2]!), 'the stored version is removed');
  t.ok(existsSync(versions[0]!) && existsSync(versions[1]!), 'replaced versions were never stored, so never removed');
  await q.close(1000);
});

t.test('a key enqueued again while in flight: the first put finishes, then the newer one follows', async (t) => {
  const storage = new Watched(s3Storage());
  const q = new UploadQueue(storage);
  const ev = record(q);
  const first = await file(crypto.randomBytes(2_000_000), 'first.mp4');
  const second = await file(crypto.randomBytes(1000), 'second.mp4');
  q.enqueue(first, 'x.mp4', { removeAfter: true }); // starts at once: the queue was empty
  q.enqueue(second, 'x.mp4', { removeAfter: true });
  t.same(await q.drain(30_000), { complete: true, left: [] });
  t.same(storage.log, ['start x.mp4 first.mp4', 'end x.mp4 first.mp4', 'start x.mp4 second.mp4', 'end x.mp4 second.mp4']);
  t.same(
    ev.uploaded.map((e) => path.basename(e.localPath)),
    ['first.mp4', 'second.mp4'],
  );
  t.equal((await stored('x.mp4')).length, 1000, 'the newer content is what the store keeps');
  t.equal(writesOf('x.mp4'), 2);

  // One playlist path rewritten in place and re-enqueued: the first put must not delete what the second reads.
  const playlist = await file('#EXTM3U\n#one\n', 'live.m3u8');
  q.enqueue(playlist, 'live.m3u8', { removeAfter: true });
  await fs.writeFile(playlist + '.tmp', '#EXTM3U\n#two\n');
  await fs.rename(playlist + '.tmp', playlist);
  q.enqueue(playlist, 'live.m3u8', { removeAfter: true });
  t.same(await q.drain(30_000), { complete: true, left: [] });
  t.same(
    ev.uploaded.filter((e) => e.key === 'live.m3u8').map((e) => e.removed),
    [false, true],
    'kept while the second put still needed it, removed after it',
  );
  t.equal((await stored('live.m3u8')).toString(), '#EXTM3U\n#two\n');
  t.equal(ev.failed.length, 0, 'the second put found its file');
  await q.close(1000);
});

t.test("the store's refusal is reported on every attempt, with its code; the file stays and is listed as left", async (t) => {
  for (const [over, code] of [
    [{ AccessKey: 'WRONG-KEY' }, 'InvalidAccessKeyId'],
    [{ Bucket: 'missing-bucket' }, 'NoSuchBucket'],
  ] as const) {
    const storage = s3Storage(over);
    const q = new UploadQueue(storage, { retryBaseMs: 20, retryMaxMs: 200 });
    const ev = record(q);
    const p = await file(crypto.randomBytes(5000));
    q.enqueue(p, 'refused.ts', { removeAfter: true });
    while (ev.failed.length < 3) await nextEvent(q, 'failed');
    t.same(
      ev.failed.map((f) => [f.key, f.code, f.attempt]),
      [
        ['refused.ts', code, 1],
        ['refused.ts', code, 2],
        ['refused.ts', code, 3],
      ],
      `${code} on attempts 1, 2, 3`,
    );
    t.ok(ev.failed.every((f) => f.retryInMs !== null && f.retryInMs > 0), 'each one will be retried');
    t.match(ev.failed[0]!.message, new RegExp(`\\(${code}\\); check CloudStorage`), ev.failed[0]!.message);
    t.ok(existsSync(p), 'never removed: never stored');
    t.same(await q.close(100), { complete: false, left: ['refused.ts'] }, 'close gives up and says what is left');
    const after = ev.failed.length;
    await new Promise((r) => setTimeout(r, 300));
    t.equal(ev.failed.length, after, 'no attempt after close');
    t.equal(ev.recovered.length, 0);
    storage.destroy();
  }
});

t.test('store down for a moment: failed, then recovered, and everything is stored', async (t) => {
  const storage = s3Storage();
  const q = new UploadQueue(storage, { retryBaseMs: 50, retryMaxMs: 400 });
  const ev = record(q);
  await s3.stop();
  const bytes = [crypto.randomBytes(7000), crypto.randomBytes(8000), crypto.randomBytes(9000)];
  const files = await Promise.all(bytes.map((b) => file(b)));
  files.forEach((p, i) => q.enqueue(p, `down_${i}.ts`, { removeAfter: true }));
  await nextEvent(q, 'failed');
  t.match(ev.failed[0], { code: /^(ECONNREFUSED|ECONNRESET)$/, attempt: 1 });
  t.ok(files.every((p) => existsSync(p)), 'nothing removed while the store is down');
  t.same((await q.drain(100)).left.sort(), ['down_0.ts', 'down_1.ts', 'down_2.ts'], 'drain says what is left');
  await s3.start();
  t.same(await q.drain(30_000), { complete: true, left: [] });
  t.equal(ev.recovered.length, 1, 'recovered once');
  for (const [i, b] of bytes.entries()) t.ok((await stored(`down_${i}.ts`)).equals(b), `down_${i}.ts intact`);
  t.ok(files.every((p) => !existsSync(p)), 'all removed once stored');
  await q.close(1000);
  storage.destroy();
});

t.test('a local file that vanished is given up at once, reported, and listed as left', async (t) => {
  const storage = new Watched(s3Storage());
  const q = new UploadQueue(storage);
  const ev = record(q);
  const gone = path.join(work, 'never-written.ts');
  const ok = await file('fine');
  q.enqueue(gone, 'gone.ts', { removeAfter: true });
  q.enqueue(ok, 'fine.ts', { removeAfter: true });
  t.same(await q.drain(30_000), { complete: false, left: ['gone.ts'] });
  t.equal(ev.failed.length, 1);
  t.match(ev.failed[0], { key: 'gone.ts', code: 'ENOENT', attempt: 1, retryInMs: null, message: /never-written\.ts cannot be read/ });
  t.equal(storage.starts('gone.ts').length, 1, 'not retried');
  t.same(ev.uploaded.map((e) => e.key), ['fine.ts'], 'the other file is unaffected');
  t.equal(ev.recovered.length, 0, 'a missing local file says nothing about the store');

  await fs.writeFile(gone, 'late but here');
  q.enqueue(gone, 'gone.ts', { removeAfter: false });
  t.same(await q.drain(30_000), { complete: true, left: [] }, 'enqueued again and stored: no longer left');
  await q.close(1000);
});

t.test('bad input is refused with a clear error and the queue goes on', async (t) => {
  const q = new UploadQueue(s3Storage());
  const ev = record(q);
  const p = await file('ok');
  t.throws(() => q.enqueue(p, '../escape.ts', { removeAfter: true }), { code: 'InvalidKey', message: /'\.\.' path segment/ });
  t.throws(() => q.enqueue('', 'k.ts', { removeAfter: true }), /no local file given for key 'k\.ts'/);
  t.equal(q.pending(), 0);
  q.enqueue(p, 'ok.ts', { removeAfter: false });
  t.same(await q.drain(30_000), { complete: true, left: [] });
  t.same(ev.uploaded.map((e) => e.key), ['ok.ts']);
  await q.close(1000);
});

t.test('local storage: files are confirmed in place and never removed, whatever removeAfter says', async (t) => {
  const dir = path.join(work, 'local-rec');
  await fs.mkdir(dir, { recursive: true });
  const q = new UploadQueue(new LocalStorage(dir));
  const ev = record(q);
  for (const name of ['a.ts', 'b.ts', 'index.m3u8']) {
    await fs.writeFile(path.join(dir, name), name);
    q.enqueue(path.join(dir, name), name, { removeAfter: true });
  }
  q.enqueue(path.join(dir, 'missing.ts'), 'missing.ts', { removeAfter: true });
  t.same(await q.drain(10_000), { complete: false, left: ['missing.ts'] });
  t.same(ev.uploaded.map((e) => [e.key, e.removed]), [
    ['a.ts', false],
    ['b.ts', false],
    ['index.m3u8', false],
  ]);
  for (const name of ['a.ts', 'b.ts', 'index.m3u8']) t.equal(await fs.readFile(path.join(dir, name), 'utf8'), name);
  t.match(ev.failed, [{ key: 'missing.ts', code: 'ENOENT', retryInMs: null, message: /does not exist/ }]);
  await q.close(1000);
});
