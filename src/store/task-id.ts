// TaskIds of pull-ingest and recording tasks: 24 random bytes, URL-safe, opaque like Tencent's (which also end in '.').

import { randomBytes } from 'node:crypto';

export function newTaskId(): string {
  return `${randomBytes(24).toString('base64url')}.`;
}
