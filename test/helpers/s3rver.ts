// A real S3-compatible store for tests: npm `s3rver` on 127.0.0.1, a free port and a temp directory, plus an AWS SDK
// client that reads back what was stored. stop() takes it down the hard way (listener closed, open connections cut,
// so clients see ECONNREFUSED/ECONNRESET); start() brings it back on the same port and directory, data intact.
//
// s3rver knows one account, S3RVER/S3RVER: another access key is refused (InvalidAccessKeyId); it does not check
// SigV4 signatures, so a wrong secret key alone goes through.

import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';

interface S3rverInstance {
  configureBuckets(): Promise<void>;
  callback(): http.RequestListener;
  on(event: 'event', listener: (e: { Records: { eventName: string; s3: { bucket: { name: string }; object: { key: string } } }[] }) => void): void;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;

export const S3RVER_KEYS = { AccessKey: 'S3RVER', SecretKey: 'S3RVER' };

export interface TestS3 {
  port: number;
  /** http://127.0.0.1:<port>, a path-style endpoint. */
  endpoint: string;
  dir: string;
  client: S3Client;
  /**
   * Objects written, as the store saw them: 'Put' is a single PUT, 'Post' a completed multipart upload. Keys are as
   * s3rver reports them (URL-encoded path segments).
   */
  writes: { how: string; bucket: string; key: string }[];
  /** Every object under `prefix`, with its size. */
  list(bucket: string, prefix: string): Promise<{ key: string; size: number }[]>;
  get(bucket: string, key: string): Promise<{ body: Buffer; contentType: string | undefined }>;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startS3rver(buckets: string[]): Promise<TestS3> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 's3rver-'));
  const s3rver = new S3rver({ directory: dir, silent: true, configureBuckets: buckets.map((name) => ({ name })) });
  await s3rver.configureBuckets();
  const writes: TestS3['writes'] = [];
  s3rver.on('event', (e) => {
    for (const r of e.Records) {
      const how = /^ObjectCreated:(\w+)$/.exec(r.eventName)?.[1];
      if (how) writes.push({ how, bucket: r.s3.bucket.name, key: r.s3.object.key });
    }
  });
  const handler = s3rver.callback();
  let server: http.Server | null = null;
  let port = 0;

  const start = async () => {
    const s = http.createServer(handler);
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  const stop = async () => {
    const s = server;
    server = null;
    if (!s) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections();
    await closed;
  };
  await start();

  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: S3RVER_KEYS.AccessKey, secretAccessKey: S3RVER_KEYS.SecretKey },
  });
  return {
    port,
    endpoint,
    dir,
    client,
    writes,
    async list(bucket, prefix) {
      const out: { key: string; size: number }[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        for (const o of page.Contents ?? []) out.push({ key: o.Key!, size: o.Size ?? -1 });
        token = page.NextContinuationToken;
      } while (token);
      return out;
    },
    async get(bucket, key) {
      const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return { body: Buffer.from(await res.Body!.transformToByteArray()), contentType: res.ContentType };
    },
    stop,
    start,
    async close() {
      client.destroy();
      await stop();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
