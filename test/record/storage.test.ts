// Recording storage against a real S3-compatible store (s3rver on loopback), read back with the AWS SDK: files land
// under <FileNamePrefix…>/<TaskId>/, byte for byte, with the content type a player expects; a big MP4 goes up in
// parts; the store's refusals come back as StorageErrors carrying its code. Plus the local directory storage and the
// endpoint templates.

import t from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { resolveEndpoint, DEFAULT_STORAGE_ENDPOINTS } from '../../src/record/storage/endpoint.js';
import { LocalStorage } from '../../src/record/storage/local-storage.js';
import { recordingKeyPrefix, S3Storage } from '../../src/record/storage/s3-storage.js';
import { contentTypeFor, StorageError } from '../../src/record/storage/storage.js';
import { S3RVER_KEYS, startS3rver } from '../helpers/s3rver.js';

const BUCKET = 'records-1250000000';
const TASK = 'dGFzay1vbmUtc3RvcmFnZS10ZXN0cw.';
const s3 = await startS3rver([BUCKET]);
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'rec-storage-'));
t.teardown(async () => {
  await s3.close();
  await fs.rm(work, { recursive: true, force: true });
});

/** CloudStorage as a CreateCloudRecording request carries it, pointed at the test store through Vendor 1's template. */
function cloud(over: Partial<{ AccessKey: string; Bucket: string }> = {}) {
  return { Vendor: 1, Region: 'us-east-1', Bucket: BUCKET, ...S3RVER_KEYS, FileNamePrefix: ['prefix1', 'prefix2'], ...over };
}
const endpoints = { '1': s3.endpoint };

async function writeFile(name: string, bytes: Buffer): Promise<string> {
  const p = path.join(work, name);
  await fs.mkdir(path.dirname(p), { recursive: true });
  await fs.writeFile(p, bytes);
  return p;
}

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

t.test('S3: files land under prefix1/prefix2/<TaskId>/, bytes and content types intact, the big MP4 in parts', async (t) => {
  const storage = new S3Storage(cloud(), TASK, endpoints);
  t.teardown(() => storage.destroy());
  const base = '1400000001_room1__UserId_s_dXNlcjE.__UserId_e_main';
  const files: Record<string, Buffer> = {
    [`${base}_video.m3u8`]: Buffer.from('#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:2.000\nseg.ts\n#EXT-X-ENDLIST\n'),
    [`${base}_video_20330531094551825.ts`]: crypto.randomBytes(188 * 700),
    [`${base}_audio_20330531094551825.aac`]: crypto.randomBytes(9000),
    [`${base}_1.mp4`]: crypto.randomBytes(12 * 1024 * 1024 + 12345),
  };
  for (const [key, bytes] of Object.entries(files)) await storage.put(await writeFile(key, bytes), key);

  const prefix = `prefix1/prefix2/${TASK}/`;
  const listed = await s3.list(BUCKET, prefix);
  t.same(listed.map((o) => o.key).sort(), Object.keys(files).map((k) => prefix + k).sort(), 'exactly the files, under the prefix');
  for (const [key, bytes] of Object.entries(files)) {
    const got = await s3.get(BUCKET, prefix + key);
    t.ok(got.body.equals(bytes), `${key}: ${bytes.length} bytes read back equal`);
    t.equal(got.contentType, contentTypeFor(key), `${key}: ${got.contentType}`);
  }
  t.same(
    [...new Set(Object.keys(files).map(contentTypeFor))].sort(),
    ['application/vnd.apple.mpegurl', 'audio/aac', 'video/mp2t', 'video/mp4'],
    'm3u8, ts, aac and mp4 each have their own type',
  );
  const how = (k: string) => s3.writes.filter((w) => w.key === prefix + k).map((w) => w.how);
  t.same(how(`${base}_1.mp4`), ['Post'], 'the 12 MB MP4 was a multipart upload');
  t.same(how(`${base}_video.m3u8`), ['Put'], 'a small file was one PUT');
  t.equal(storage.describe('a.ts'), `s3://${BUCKET}/${prefix}a.ts`);
});

t.test('S3: without FileNamePrefix the files sit under <TaskId>/ alone; a rewritten key keeps the newest bytes', async (t) => {
  const storage = new S3Storage({ ...cloud(), FileNamePrefix: undefined }, TASK, endpoints);
  t.teardown(() => storage.destroy());
  const p = await writeFile('plain/x.m3u8', Buffer.from('one'));
  await storage.put(p, 'x.m3u8');
  await fs.writeFile(p, 'two, longer');
  await storage.put(p, 'x.m3u8');
  t.equal((await s3.get(BUCKET, `${TASK}/x.m3u8`)).body.toString(), 'two, longer');
});

t.test("S3: the store's refusals keep its code and say what to check", async (t) => {
  const p = await writeFile('refused.ts', crypto.randomBytes(1000));
  const cases = [
    { over: { AccessKey: 'NOT-A-KEY' }, code: 'InvalidAccessKeyId', check: /CloudStorage\.AccessKey/ },
    { over: { Bucket: 'no-such-bucket' }, code: 'NoSuchBucket', check: /CloudStorage\.Bucket/ },
  ];
  for (const c of cases) {
    const storage = new S3Storage(cloud(c.over), TASK, endpoints);
    const err = await storage.put(p, 'refused.ts').then(
      () => null,
      (e: unknown) => e,
    );
    storage.destroy();
    t.type(err, StorageError, c.code);
    const e = err as StorageError;
    t.equal(e.code, c.code, `code ${e.code}`);
    t.match(e.message, c.check, e.message);
    t.match(e.message, /refused\.ts/, 'names the file');
    t.equal(e.permanent, false, 'a refusal may be fixed while the task runs: not permanent');
  }
  t.equal((await s3.list(BUCKET, `prefix1/prefix2/${TASK}/refused`)).length, 0, 'nothing stored');
});

t.test('S3: an unreachable store is ECONNREFUSED; a missing local file is a permanent ENOENT', async (t) => {
  const storage = new S3Storage(cloud(), TASK, { '1': `http://127.0.0.1:${await closedPort()}` });
  t.teardown(() => storage.destroy());
  const p = await writeFile('unreachable.ts', Buffer.from('x'));
  await t.rejects(storage.put(p, 'unreachable.ts'), { name: 'StorageError', code: 'ECONNREFUSED', message: /storageEndpoints/ });
  const missing = path.join(work, 'never-written.ts');
  await t.rejects(storage.put(missing, 'never-written.ts'), {
    code: 'ENOENT',
    permanent: true,
    message: new RegExp(`${missing.replaceAll('.', '\\.')} cannot be read`),
  });
});

t.test('S3: bad keys, prefixes and vendors are refused before anything is sent', async (t) => {
  const storage = new S3Storage(cloud(), TASK, endpoints);
  t.teardown(() => storage.destroy());
  const p = await writeFile('k.ts', Buffer.from('k'));
  for (const key of ['../escape.ts', '/abs.ts', 'a//b.ts', '', 'a/./b.ts', 'back\\slash.ts']) {
    await t.rejects(storage.put(p, key), { code: 'InvalidKey', permanent: true }, JSON.stringify(key));
  }
  t.throws(() => new S3Storage({ ...cloud(), FileNamePrefix: ['ok', 'not ok/'] }, TASK), /FileNamePrefix level 'not ok\/'/);
  t.throws(() => new S3Storage({ ...cloud(), Vendor: 7 }, TASK), /CloudStorage\.Vendor 7 has no storage endpoint: use 0 or 1/);
  t.equal(recordingKeyPrefix(['a', 'b_c-d'], TASK), `a/b_c-d/${TASK}/`);
});

t.test('endpoint templates: defaults per Vendor, {Region}, virtual-hosted {Bucket}, clear errors', async (t) => {
  t.same(resolveEndpoint(0, 'ap-guangzhou', 'b-125'), { endpoint: 'https://cos.ap-guangzhou.myqcloud.com', forcePathStyle: true });
  t.same(resolveEndpoint(1, 'eu-west-1', 'b'), { endpoint: 'https://s3.eu-west-1.amazonaws.com', forcePathStyle: true });
  t.same(Object.keys(DEFAULT_STORAGE_ENDPOINTS), ['0', '1']);
  t.same(resolveEndpoint(0, 'r1', 'b', { '0': 'http://minio.lan:9000/' }), { endpoint: 'http://minio.lan:9000', forcePathStyle: true });
  t.same(resolveEndpoint(0, 'ap-x', 'b', { '0': 'https://{Bucket}.cos.{Region}.myqcloud.com' }), {
    endpoint: 'https://cos.ap-x.myqcloud.com',
    forcePathStyle: false,
  });
  t.throws(() => resolveEndpoint(1, 'r', 'b', { '1': 'https://s3.example/{Bucket}' }), /\{Bucket\} only as the first host label/);
  t.throws(() => resolveEndpoint(1, 'r', 'b', { '1': 'ftp://x' }), /must be an http\(s\):\/\/ URL/);
  t.throws(() => resolveEndpoint(1, 'evil.com/#', 'b'), /CloudStorage\.Region 'evil\.com\/#' is not a region name/);
  t.throws(() => resolveEndpoint(1, 'r', 'a/b'), /CloudStorage\.Bucket 'a\/b' is not a bucket name/);
});

t.test('local: put() checks the file is where the key says; a missing file rejects with a clear message', async (t) => {
  const dir = path.join(work, 'local-task');
  const storage = new LocalStorage(dir);
  t.equal(storage.kind, 'local');
  const key = 'sub/1400000001_room1.m3u8';
  t.equal(storage.describe(key), path.join(dir, key));

  const err = await storage.put(path.join(dir, key), key).then(
    () => null,
    (e: unknown) => e as StorageError,
  );
  t.type(err, StorageError);
  t.equal(err?.code, 'ENOENT');
  t.equal(err?.permanent, true);
  t.equal(
    err?.message,
    `recording file ${path.join(dir, key)} does not exist (removed, or never written): there is nothing to keep for '${key}'`,
  );

  await fs.mkdir(path.join(dir, 'sub'), { recursive: true });
  await fs.writeFile(path.join(dir, key), '#EXTM3U\n');
  await storage.put(path.join(dir, key), key);
  t.equal(await fs.readFile(path.join(dir, key), 'utf8'), '#EXTM3U\n', 'the file stays as it was');

  await t.rejects(storage.put(path.join(work, 'elsewhere.m3u8'), key), { code: 'WrongPath', message: /should be/ });
  await t.rejects(storage.put(path.join(dir, 'sub'), 'sub'), { code: 'NotAFile' });
  await t.rejects(storage.put(path.join(dir, '..', 'x'), '../x'), { code: 'InvalidKey', message: /'\.\.'/ });
});

t.test('content types by extension', async (t) => {
  t.equal(contentTypeFor('a/b.M3U8'), 'application/vnd.apple.mpegurl');
  t.equal(contentTypeFor('x.ts'), 'video/mp2t');
  t.equal(contentTypeFor('x.mp4'), 'video/mp4');
  t.equal(contentTypeFor('x.aac'), 'audio/aac');
  t.equal(contentTypeFor('x.json'), 'application/octet-stream');
  t.equal(contentTypeFor('noext'), 'application/octet-stream');
});
