// Where a recording's files end up. A recorder writes every file to its local directory first; a Storage then keeps
// it there (LocalStorage) or copies it to an S3-compatible store (S3Storage). The UploadQueue drives a Storage while
// recording goes on, so the recorder never waits on the network.
//
// Keys are paths relative to the task (`<SdkAppId>_<RoomId>.m3u8`, `…/x.ts`); each Storage adds its own root (the
// recording directory, or `<FileNamePrefix…>/<TaskId>/` in the bucket), so the recorder names files one way for both.

export interface Storage {
  readonly kind: 'local' | 's3';
  /** Where a key is (for logs and listings): a local path or s3://bucket/key. */
  describe(key: string): string;
  /**
   * Stores the local file under `key`; resolves once the store has confirmed it. Rejects with StorageError.
   * `signal` aborts a put in flight (the queue's close() uses it); the put then rejects with code 'Aborted'.
   */
  put(localPath: string, key: string, signal?: AbortSignal): Promise<void>;
}

export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(
    /** The store's own code ('AccessDenied', 'NoSuchBucket', 'ECONNREFUSED'…), or ours for local problems. */
    readonly code: string,
    /** A sentence for logs and the 308 callback: what failed, the store's words, and what to check. */
    message: string,
    /**
     * True when trying again cannot help (the local file is gone, the key is malformed); a store that refuses or is
     * unreachable is never permanent, since buckets, keys and networks get fixed while a recording runs.
     */
    readonly permanent = false,
  ) {
    super(message);
  }
}

const CONTENT_TYPES: Record<string, string> = {
  m3u8: 'application/vnd.apple.mpegurl',
  ts: 'video/mp2t',
  mp4: 'video/mp4',
  aac: 'audio/aac',
};

/** The Content-Type a player expects for a recording file; anything else is stored as plain bytes. */
export function contentTypeFor(key: string): string {
  const ext = /\.([A-Za-z0-9]+)$/.exec(key)?.[1]?.toLowerCase();
  return (ext && CONTENT_TYPES[ext]) ?? 'application/octet-stream';
}

/**
 * Throws a permanent StorageError unless `key` is a plain relative path: no leading '/', no '.'/'..' or empty
 * segments, no backslash or control characters. Such a key would escape the recording directory locally, or name a
 * different object on stores that normalise paths.
 */
export function checkKey(key: string): void {
  const why =
    typeof key !== 'string' || key === ''
      ? 'it is empty'
      : key.length > 1024
        ? 'it is longer than 1024 characters'
        : key.startsWith('/')
          ? "it starts with '/'"
          : /[\\\x00-\x1f\x7f]/.test(key)
            ? 'it contains a backslash or a control character'
            : key.split('/').some((s) => s === '' || s === '.' || s === '..')
              ? "it has an empty, '.' or '..' path segment"
              : null;
  if (why) {
    throw new StorageError('InvalidKey', `recording file key '${String(key).slice(0, 80)}' is not usable: ${why}`, true);
  }
}
