// Event-callback signature, as TRTC sends it in the `Sign` header: base64(HMAC-SHA256(callbackKey, raw body)).
// It is computed over the body bytes exactly as sent, so callers must sign the serialized body they will POST
// (Tencent's own bodies are tab-indented JSON; any re-serialization changes the signature).

import { createHmac, timingSafeEqual } from 'node:crypto';

export function signCallbackBody(key: string, body: string | Buffer): string {
  const hmac = createHmac('sha256', key);
  hmac.update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
  return hmac.digest('base64');
}

/** For receivers of our callbacks (and our tests): constant-time check of a `Sign` header. */
export function verifyCallbackSign(key: string, body: string | Buffer, sign: string): boolean {
  const expected = Buffer.from(signCallbackBody(key, body), 'utf8');
  const given = Buffer.from(sign, 'utf8');
  return expected.length === given.length && timingSafeEqual(expected, given);
}
