// The TLS sig v2 envelope shared by UserSig and PrivateMapKey (a PrivateMapKey is a UserSig whose TLS.userbuf
// carries a binary permission record). Format, as produced by Tencent's tls-sig-api-v2 libraries:
//   JSON {TLS.ver:"2.0", TLS.identifier, TLS.sdkappid, TLS.time, TLS.expire, [TLS.userbuf], TLS.sig}
//   → zlib (RFC 1950) → standard base64 → '+'→'*', '/'→'-', '=' → '_'
// Decoding is strict: only the canonical base64 spelling, and nothing after the zlib stream, so each credential has
// exactly one accepted text (as with Tencent's Go verifier).
// TLS.sig = base64(HMAC-SHA256(secretKey,
//             "TLS.identifier:…\nTLS.sdkappid:…\nTLS.time:…\nTLS.expire:…\n[TLS.userbuf:…\n]")).
// `label` ("usersig" / "privatemapkey") only changes the wording of reasons, so both credentials explain
// themselves in their own name.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import { quote } from './ids.js';
import { isoSeconds, nowSeconds } from './time.js';

/** Inflated JSON larger than this is refused: a real sig is < 1 KiB, so anything bigger is a zip bomb or junk. */
export const MAX_INFLATED_BYTES = 64 * 1024;
/** The encoded text is capped too, so we never even base64-decode something absurd from a URL or header. */
export const MAX_ENCODED_CHARS = 64 * 1024;

const SIG_ALPHABET = /^[A-Za-z0-9*_-]+$/;
const STD_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes standard base64 only when `text` is the one canonical spelling of its bytes: padded to a multiple of 4,
 * with zero unused bits. Node's decoder is lenient (it skips a dangling character and ignores unused bits), so
 * without this one credential would have many accepted spellings, which Tencent's Go verifier refuses.
 */
function canonicalBase64(text: string): Buffer | null {
  if (!STD_BASE64.test(text) || text.length % 4 !== 0) return null;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : null;
}

export type TlsSigFailureCode =
  | 'malformed'
  | 'wrong-app'
  | 'wrong-user'
  | 'expired'
  | 'bad-signature'
  | 'userbuf-mismatch';

export type TlsSigFailure = { ok: false; code: TlsSigFailureCode; reason: string };

export interface TlsSigOk {
  ok: true;
  time: number;
  expire: number;
  /** The raw TLS.userbuf bytes, when the sig carries one. */
  userbuf?: Buffer;
}

export interface TlsSigFields {
  sdkAppId: number;
  userId: string;
  time: number;
  expire: number;
  /** TLS.userbuf exactly as it appears in the JSON (standard base64), when present. */
  userbufBase64?: string;
}

/** The text that TLS.sig is the HMAC of. Numbers are rendered in plain decimal, as every official library does. */
export function tlsSigContent(f: TlsSigFields): string {
  let content =
    `TLS.identifier:${f.userId}\n` +
    `TLS.sdkappid:${f.sdkAppId}\n` +
    `TLS.time:${f.time}\n` +
    `TLS.expire:${f.expire}\n`;
  if (f.userbufBase64 !== undefined) content += `TLS.userbuf:${f.userbufBase64}\n`;
  return content;
}

/** HMAC-SHA256 keyed with the secret key as a UTF-8 string (not hex-decoded — the libraries use it as text). */
function tlsSigDigest(secretKey: string, f: TlsSigFields): Buffer {
  return createHmac('sha256', secretKey).update(tlsSigContent(f), 'utf8').digest();
}

export function encodeTlsSig(args: {
  sdkAppId: number;
  secretKey: string;
  userId: string;
  time: number;
  expire: number;
  userbuf?: Buffer;
}): string {
  const fields: TlsSigFields = {
    sdkAppId: args.sdkAppId,
    userId: args.userId,
    time: args.time,
    expire: args.expire,
    userbufBase64: args.userbuf?.toString('base64'),
  };
  // Key order matters for byte-exact output: it mirrors the Node library (ver, identifier, sdkappid, time,
  // expire, [userbuf], sig), and JSON.stringify drops the userbuf key when it is undefined.
  const doc = {
    'TLS.ver': '2.0',
    'TLS.identifier': args.userId,
    'TLS.sdkappid': args.sdkAppId,
    'TLS.time': args.time,
    'TLS.expire': args.expire,
    'TLS.userbuf': fields.userbufBase64,
    'TLS.sig': tlsSigDigest(args.secretKey, fields).toString('base64'),
  };
  const compressed = deflateSync(Buffer.from(JSON.stringify(doc), 'utf8'));
  return compressed.toString('base64').replace(/\+/g, '*').replace(/\//g, '-').replace(/=/g, '_');
}

interface DecodedDoc extends TlsSigFields {
  sig: Buffer;
}

/** Undoes the encoding layers; returns what is wrong as a fragment for "<label> is malformed: …". */
function decodeTlsSig(text: unknown): DecodedDoc | string {
  if (typeof text !== 'string' || text.length === 0) return 'it is empty';
  if (text.length > MAX_ENCODED_CHARS) return `it is ${text.length} characters long; the limit is ${MAX_ENCODED_CHARS}`;
  if (!SIG_ALPHABET.test(text)) return 'it has characters outside A-Z a-z 0-9 * - _';
  const base64 = text.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '=');
  if (!STD_BASE64.test(base64)) return "its '_' padding is not at the end";
  if (base64.length % 4 !== 0) {
    return `it is ${text.length} characters long, not a multiple of 4: characters were cut off or appended, or its '_' padding is wrong`;
  }
  const compressed = canonicalBase64(base64);
  if (!compressed) return 'its last characters are not the canonical encoding: it was altered or has characters appended';

  let json: Buffer;
  let consumed: number;
  try {
    // `info` exposes the engine, whose bytesWritten is how much input the zlib stream used; inflateSync itself
    // stops at the end of the stream and silently ignores whatever follows.
    const out = inflateSync(compressed, { maxOutputLength: MAX_INFLATED_BYTES, info: true }) as unknown as {
      buffer: Buffer;
      engine: { bytesWritten: number };
    };
    json = out.buffer;
    consumed = out.engine.bytesWritten;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') return `it inflates to more than ${MAX_INFLATED_BYTES} bytes`;
    if (code === 'Z_BUF_ERROR') return 'its zlib data ends early: it was cut short';
    return 'it is not zlib-compressed data';
  }
  if (consumed !== compressed.length) {
    return `it has ${compressed.length - consumed} bytes after the end of its zlib data: something was appended`;
  }

  let doc: unknown;
  try {
    doc = JSON.parse(json.toString('utf8'));
  } catch {
    return 'its content is not JSON';
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return 'its content is not a JSON object';
  const d = doc as Record<string, unknown>;

  const uint = (name: string): number | string => {
    const v = d[name];
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
    return `${name} is missing or not a non-negative integer`;
  };
  if (typeof d['TLS.identifier'] !== 'string') return 'TLS.identifier is missing or not a string';
  const sdkAppId = uint('TLS.sdkappid');
  if (typeof sdkAppId === 'string') return sdkAppId;
  const time = uint('TLS.time');
  if (typeof time === 'string') return time;
  const expire = uint('TLS.expire');
  if (typeof expire === 'string') return expire;
  const sig = d['TLS.sig'];
  const sigBytes = typeof sig === 'string' ? canonicalBase64(sig) : null;
  if (!sigBytes || sigBytes.length !== 32) return 'TLS.sig is missing or not a base64 HMAC-SHA256';
  const userbuf = d['TLS.userbuf'];
  if (userbuf !== undefined && (typeof userbuf !== 'string' || !canonicalBase64(userbuf))) {
    return 'TLS.userbuf is not standard base64';
  }
  return {
    userId: d['TLS.identifier'],
    sdkAppId,
    time,
    expire,
    userbufBase64: userbuf,
    sig: sigBytes,
  };
}

export interface VerifyTlsSigArgs {
  sig: string;
  sdkAppId: number;
  secretKey: string;
  userId: string;
  now?: number;
  /** true: a userbuf must be present; false: must be absent; undefined: either. */
  expectUserbuf?: boolean;
  /** PrivateMapKey checks its own (absolute) expiry after the room check, so it can switch this off. */
  checkExpiry?: boolean;
}

/**
 * Verifies the envelope in the order of Tencent's Go verifier: app, user, expiry, then the HMAC recomputed
 * from the decoded fields, compared in constant time. Reporting app/user/expiry before the signature leaks
 * nothing: those fields are readable by anyone who holds the sig.
 */
export function verifyTlsSig(label: string, args: VerifyTlsSigArgs): TlsSigOk | TlsSigFailure {
  const doc = decodeTlsSig(args.sig);
  if (typeof doc === 'string') return { ok: false, code: 'malformed', reason: `${label} is malformed: ${doc}` };

  if (doc.sdkAppId !== args.sdkAppId) {
    return {
      ok: false,
      code: 'wrong-app',
      reason: `${label} was signed for sdkappid ${doc.sdkAppId}, not ${args.sdkAppId}`,
    };
  }
  if (doc.userId !== args.userId) {
    return {
      ok: false,
      code: 'wrong-user',
      reason: `${label} was signed for user ${quote(doc.userId)}, not ${quote(args.userId)}`,
    };
  }
  const now = args.now ?? nowSeconds();
  if (args.checkExpiry !== false && now > doc.time + doc.expire) {
    return { ok: false, code: 'expired', reason: `${label} expired at ${isoSeconds(doc.time + doc.expire)}` };
  }

  const expected = tlsSigDigest(args.secretKey, doc);
  if (!timingSafeEqual(expected, doc.sig)) {
    return {
      ok: false,
      code: 'bad-signature',
      reason:
        `${label} signature does not match: wrong secret key for sdkappid ${args.sdkAppId}, ` +
        `or the ${label} was altered`,
    };
  }

  const hasUserbuf = doc.userbufBase64 !== undefined;
  if (args.expectUserbuf === true && !hasUserbuf) {
    return { ok: false, code: 'userbuf-mismatch', reason: `${label} carries no userbuf, but one is required here` };
  }
  if (args.expectUserbuf === false && hasUserbuf) {
    return { ok: false, code: 'userbuf-mismatch', reason: `${label} carries a userbuf, but none is expected here` };
  }

  const ok: TlsSigOk = { ok: true, time: doc.time, expire: doc.expire };
  if (hasUserbuf) ok.userbuf = Buffer.from(doc.userbufBase64!, 'base64');
  return ok;
}
