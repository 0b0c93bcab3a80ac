// Turns whatever the AWS SDK threw into a StorageError that keeps the store's own code (it goes out in callback 308
// as `Code`) and says, in one sentence, what to check. The SDK throws three shapes: a service exception whose `name`
// is the S3 error code (the store answered), a Node system error with `code` (the store could not be reached), or an
// AbortError (we cancelled).

import { StorageError } from './storage.js';

const HINTS: Record<string, string> = {
  NoSuchBucket: 'check CloudStorage.Bucket and Region',
  InvalidAccessKeyId: 'check CloudStorage.AccessKey',
  SignatureDoesNotMatch: 'check CloudStorage.SecretKey',
  AccessDenied: "check CloudStorage.AccessKey/SecretKey and the bucket's write permission",
  InvalidBucketName: 'check CloudStorage.Bucket',
  PermanentRedirect: 'check CloudStorage.Region: the bucket lives in another one',
  AuthorizationHeaderMalformed: 'check CloudStorage.Region',
  ECONNREFUSED: 'the store is down or recording.storageEndpoints points at the wrong host or port',
  ENOTFOUND: "the endpoint's host name does not resolve: check recording.storageEndpoints and CloudStorage.Region",
  EAI_AGAIN: "the endpoint's host name does not resolve: check recording.storageEndpoints and CloudStorage.Region",
  ECONNRESET: 'the store closed the connection',
  ETIMEDOUT: 'the store did not answer in time',
  TimeoutError: 'the store did not answer in time',
};

interface SdkLikeError {
  name?: string;
  code?: string;
  message?: string;
  errors?: { code?: string }[];
  $metadata?: { httpStatusCode?: number };
  $fault?: string;
}

export function toStorageError(err: unknown, localPath: string, where: string): StorageError {
  if (err instanceof StorageError) return err;
  const e = (err ?? {}) as SdkLikeError;
  const status = e.$metadata?.httpStatusCode;
  let code: string;
  if (e.name === 'AbortError') code = 'Aborted';
  else if (e.$fault && e.name && e.name !== 'Error' && e.name !== 'UnknownError') code = e.name;
  // Happy-eyeballs connects fail with an AggregateError whose parts carry the code.
  else code = e.code ?? e.errors?.find((x) => x.code)?.code ?? (status ? `HTTP${status}` : (e.name ?? 'Error'));
  const said = e.message && e.message !== code ? e.message : status ? `HTTP status ${status}` : 'no detail given';
  const hint = HINTS[code];
  const advice = hint ? `; ${hint}` : '';
  return new StorageError(code, `could not store ${localPath} as ${where}: ${said} (${code})${advice}`);
}
