// `StorageParams.CloudStorage`: a recording's files copied to any S3-compatible store (Tencent COS, AWS S3, MinIO,
// Ceph…) under `<FileNamePrefix…>/<TaskId>/<key>`, as TRTC lays them out. Uploads go through lib-storage's Upload,
// which sends small files in one PUT and big MP4s in parts, so a 2 GB file never sits in memory.
//
// The SDK retries a request a couple of times on its own (connection resets, 5xx); anything longer is the
// UploadQueue's job, which backs off for as long as the store stays down. So the SDK's attempts are bounded here.

import fs from 'node:fs';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { resolveEndpoint } from './endpoint.js';
import { toStorageError } from './s3-errors.js';
import { checkKey, contentTypeFor, StorageError, type Storage } from './storage.js';

/** The request's CloudStorage, with TRTC's field names. */
export interface CloudStorageParams {
  Vendor: number;
  Region: string;
  Bucket: string;
  AccessKey: string;
  SecretKey: string;
  FileNamePrefix?: string[];
}

/** Part size for multipart uploads: S3's minimum, so a part in flight costs little memory. */
const PART_SIZE = 5 * 1024 * 1024;
/** Parts of one file sent at once; the queue already runs two files at a time on a 2-core box. */
const PARTS_AT_ONCE = 2;

const PREFIX_LEVEL = /^[A-Za-z0-9_-]{1,64}$/;

/** `prefix1/prefix2/<TaskId>/` from FileNamePrefix; throws an Error naming the bad level. */
export function recordingKeyPrefix(fileNamePrefix: readonly string[] | undefined, taskId: string): string {
  for (const level of fileNamePrefix ?? []) {
    if (!PREFIX_LEVEL.test(level)) {
      throw new Error(`CloudStorage.FileNamePrefix level '${level}' may hold only letters, digits, '_' and '-'`);
    }
  }
  // Task ids are base64url with a trailing '.', like pull tasks'.
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(taskId) || taskId === '.' || taskId === '..') {
    throw new Error(`task id '${taskId}' cannot be used as a storage path level`);
  }
  return [...(fileNamePrefix ?? []), taskId, ''].join('/');
}

export class S3Storage implements Storage {
  readonly kind = 's3' as const;
  readonly bucket: string;
  readonly keyPrefix: string;
  private readonly client: S3Client;

  /**
   * `endpoints` is `recording.storageEndpoints` (Vendor number → template); throws an Error naming the field to fix
   * when the Vendor, Region, Bucket or prefix cannot be used. Nothing is sent until the first put().
   */
  constructor(cs: CloudStorageParams, taskId: string, endpoints: Readonly<Record<string, string>> = {}) {
    const { endpoint, forcePathStyle } = resolveEndpoint(cs.Vendor, cs.Region, cs.Bucket, endpoints);
    this.bucket = cs.Bucket;
    this.keyPrefix = recordingKeyPrefix(cs.FileNamePrefix, taskId);
    this.client = new S3Client({
      endpoint,
      forcePathStyle,
      region: cs.Region,
      credentials: { accessKeyId: cs.AccessKey, secretAccessKey: cs.SecretKey },
      maxAttempts: 3,
      // Since 3.729 the SDK adds CRC checksums to every upload by default; COS, Ceph and older MinIO reject or
      // mis-store those requests. Checksums only where the API requires them, as before.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // A store that accepts the connection and then says nothing must not hold a queue slot forever.
      requestHandler: { connectionTimeout: 5000, requestTimeout: 60_000 },
    });
  }

  describe(key: string): string {
    return `s3://${this.bucket}/${this.keyPrefix}${key}`;
  }

  async put(localPath: string, key: string, signal?: AbortSignal): Promise<void> {
    checkKey(key);
    const where = this.describe(key);
    try {
      await fs.promises.access(localPath, fs.constants.R_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      throw new StorageError(
        code,
        `recording file ${localPath} cannot be read (${code}), so it cannot be stored as ${where}`,
        code === 'ENOENT' || code === 'ENOTDIR',
      );
    }
    if (signal?.aborted) throw new StorageError('Aborted', `upload of ${localPath} to ${where} was cancelled`);
    const body = fs.createReadStream(localPath);
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.keyPrefix + key, Body: body, ContentType: contentTypeFor(key) },
      partSize: PART_SIZE,
      queueSize: PARTS_AT_ONCE,
    });
    const onAbort = () => void upload.abort().catch(() => {});
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
    } catch (err) {
      throw toStorageError(err, localPath, where);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      body.destroy();
    }
  }

  /** Closes the client's idle connections; puts after this fail. */
  destroy(): void {
    this.client.destroy();
  }
}
