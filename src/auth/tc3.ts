// TC3-HMAC-SHA256, the signature of Tencent Cloud API 3.0 requests, so official SDKs and tccli can call our API.
//   CanonicalRequest = METHOD \n URI \n QUERY \n (name:value\n per signed header) \n signedHeaders \n hex(sha256(body))
//   StringToSign     = "TC3-HMAC-SHA256" \n timestamp \n date/service/tc3_request \n hex(sha256(CanonicalRequest))
//   SigningKey       = HMAC(HMAC(HMAC("TC3"+secretKey, date), service), "tc3_request")
//   Signature        = hex(HMAC(SigningKey, StringToSign))
// Verification rebuilds the request from what was received, taking date and service from the credential scope:
// the Node SDK signs service = first label of its endpoint (e.g. "127" for 127.0.0.1) and the host without its
// port, while the Go SDK signs the host with the port — so we try the host as sent and with ":port" removed.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isoSeconds, nowSeconds } from './time.js';

export const TC3_ALGORITHM = 'TC3-HMAC-SHA256';
export const DEFAULT_MAX_SKEW_SECONDS = 300;

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(typeof data === 'string' ? Buffer.from(data, 'utf8') : data).digest('hex');
}

/** UTC calendar date (YYYY-MM-DD) of a Unix timestamp: the date in the credential scope. */
export function tc3Date(timestamp: number): string {
  return new Date(timestamp * 1000).toISOString().slice(0, 10);
}

/** Header values are lower-cased and trimmed before signing (hence "x-tc-action:describeinstances"). */
function canonicalHeaderValue(value: string): string {
  return value.trim().toLowerCase();
}

export interface CanonicalRequestParts {
  method: string;
  /** Canonical URI; "/" for API 3.0. */
  path?: string;
  /** Canonical query string; "" for POST. */
  query?: string;
  /** Signed header names (lower-case) in signing order, with the value to sign for each. */
  headers: ReadonlyArray<readonly [name: string, value: string]>;
  payloadHash: string;
}

export function tc3CanonicalRequest(p: CanonicalRequestParts): string {
  const canonicalHeaders = p.headers.map(([name, value]) => `${name}:${canonicalHeaderValue(value)}\n`).join('');
  const signedHeaders = p.headers.map(([name]) => name).join(';');
  return [p.method.toUpperCase(), p.path ?? '/', p.query ?? '', canonicalHeaders, signedHeaders, p.payloadHash].join(
    '\n',
  );
}

export function tc3StringToSign(timestamp: number, date: string, service: string, canonicalRequest: string): string {
  return `${TC3_ALGORITHM}\n${timestamp}\n${date}/${service}/tc3_request\n${sha256Hex(canonicalRequest)}`;
}

export function tc3SigningKey(secretKey: string, date: string, service: string): Buffer {
  const secretDate = createHmac('sha256', `TC3${secretKey}`).update(date).digest();
  const secretService = createHmac('sha256', secretDate).update(service).digest();
  return createHmac('sha256', secretService).update('tc3_request').digest();
}

export function tc3Signature(signingKey: Buffer, stringToSign: string): string {
  return createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest('hex');
}

export interface SignTc3Args {
  secretId: string;
  secretKey: string;
  /** Scope service. Our gateway accepts any; the Node SDK uses the endpoint's first label. */
  service: string;
  /** Host as signed (the Node SDK signs it without a port). */
  host: string;
  body: string | Buffer;
  timestamp: number;
  method?: string;
  path?: string;
  query?: string;
  contentType?: string;
  /** More headers to send and sign, e.g. {"x-tc-action": "StartStreamIngest"}. */
  extraSignedHeaders?: Record<string, string>;
}

/**
 * Signs a request the way the SDKs do and returns the headers to send (lower-case names). The caller adds any
 * unsigned headers (X-TC-Action, X-TC-Version, …) and must send `host` and the body exactly as given.
 */
export function signTc3Request(a: SignTc3Args): Record<string, string> {
  const signed: Record<string, string> = {
    'content-type': a.contentType ?? 'application/json',
    host: a.host,
    ...Object.fromEntries(Object.entries(a.extraSignedHeaders ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
  };
  const headers = Object.entries(signed).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  const date = tc3Date(a.timestamp);
  const canonical = tc3CanonicalRequest({
    method: a.method ?? 'POST',
    path: a.path,
    query: a.query,
    headers,
    payloadHash: sha256Hex(a.body),
  });
  const signature = tc3Signature(
    tc3SigningKey(a.secretKey, date, a.service),
    tc3StringToSign(a.timestamp, date, a.service, canonical),
  );
  const authorization =
    `${TC3_ALGORITHM} Credential=${a.secretId}/${date}/${a.service}/tc3_request, ` +
    `SignedHeaders=${headers.map(([n]) => n).join(';')}, Signature=${signature}`;
  return { ...signed, 'x-tc-timestamp': String(a.timestamp), authorization };
}

export type Tc3FailureCode =
  | 'AuthFailure.InvalidAuthorization'
  | 'AuthFailure.SignatureExpire'
  | 'AuthFailure.SecretIdNotFound'
  | 'AuthFailure.SignatureFailure'
  | 'MissingParameter';

export type Tc3Result =
  | { ok: true; secretId: string; service: string; date: string; timestamp: number }
  | { ok: false; code: Tc3FailureCode; message: string };

export interface VerifyTc3Args {
  method: string;
  /** Request headers with lower-case names (Node's IncomingHttpHeaders fits). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The raw body bytes as received. */
  body: Buffer | string;
  lookupSecret: (secretId: string) => string | undefined;
  now?: number;
  maxSkewSeconds?: number;
  /** Canonical URI and query; default "/" and "" (API 3.0 POST). */
  path?: string;
  query?: string;
}

interface ParsedAuthorization {
  secretId: string;
  date: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

/** Parses the Authorization header; returns a message saying what is wrong with it on failure. */
export function parseTc3Authorization(value: string): ParsedAuthorization | string {
  const space = value.indexOf(' ');
  const algorithm = space < 0 ? value : value.slice(0, space);
  if (algorithm !== TC3_ALGORITHM) {
    return `Authorization must use ${TC3_ALGORITHM} (got '${algorithm.slice(0, 40)}'); set signMethod to TC3-HMAC-SHA256`;
  }
  const params = new Map<string, string>();
  for (const item of value.slice(space + 1).split(',')) {
    const eq = item.indexOf('=');
    if (eq > 0) params.set(item.slice(0, eq).trim(), item.slice(eq + 1).trim());
  }
  const credential = params.get('Credential');
  const signedHeaders = params.get('SignedHeaders');
  const signature = params.get('Signature');
  if (!credential || !signedHeaders || !signature) {
    return 'Authorization must carry Credential=<SecretId>/<date>/<service>/tc3_request, SignedHeaders=… and Signature=…';
  }
  const scope = credential.split('/');
  if (scope.length !== 4 || !scope[0] || !scope[2] || scope[3] !== 'tc3_request') {
    return `Credential '${credential.slice(0, 120)}' must be <SecretId>/<YYYY-MM-DD>/<service>/tc3_request`;
  }
  if (!/^\d{4}-\d{2}-\d{2}$/.test(scope[1]!)) return `Credential date '${scope[1]}' must be YYYY-MM-DD`;
  const names = signedHeaders.split(';');
  if (names.some((n) => !/^[a-z0-9-]+$/.test(n)) || new Set(names).size !== names.length) {
    return `SignedHeaders '${signedHeaders.slice(0, 120)}' must be distinct lower-case header names joined by ';'`;
  }
  if (!names.includes('content-type') || !names.includes('host')) {
    return `SignedHeaders '${signedHeaders.slice(0, 120)}' must include content-type and host`;
  }
  if (!/^[0-9a-fA-F]{64}$/.test(signature)) return 'Signature must be 64 hexadecimal characters';
  return {
    secretId: scope[0]!,
    date: scope[1]!,
    service: scope[2]!,
    signedHeaders: names,
    signature: signature.toLowerCase(),
  };
}

function headerValue(headers: VerifyTc3Args['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

export function verifyTc3Request(a: VerifyTc3Args): Tc3Result {
  const fail = (code: Tc3FailureCode, message: string): Tc3Result => ({ ok: false, code, message });
  const invalid = (message: string) => fail('AuthFailure.InvalidAuthorization', message);

  const authorization = headerValue(a.headers, 'authorization');
  if (!authorization) {
    return fail('MissingParameter', 'The Authorization header is missing; sign the request with TC3-HMAC-SHA256.');
  }
  const tsText = headerValue(a.headers, 'x-tc-timestamp')?.trim();
  if (!tsText) {
    return fail(
      'MissingParameter',
      'The X-TC-Timestamp header is missing; send the Unix time in seconds used for signing.',
    );
  }

  const auth = parseTc3Authorization(authorization.trim());
  if (typeof auth === 'string') return invalid(`${auth}.`);
  if (!/^\d{1,12}$/.test(tsText)) return invalid(`X-TC-Timestamp '${tsText.slice(0, 40)}' must be Unix time in seconds.`);
  const timestamp = Number(tsText);
  const tsDate = tc3Date(timestamp);
  if (auth.date !== tsDate) {
    return invalid(`Credential date ${auth.date} must be the UTC date of X-TC-Timestamp ${timestamp}, which is ${tsDate}.`);
  }
  const now = a.now ?? nowSeconds();
  const maxSkew = a.maxSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS;
  const skew = Math.abs(now - timestamp);
  if (skew > maxSkew) {
    return fail(
      'AuthFailure.SignatureExpire',
      `The signature is expired: X-TC-Timestamp ${timestamp} (${isoSeconds(timestamp)}) is ${skew} s from server ` +
        `time ${isoSeconds(now)}; it must be within ${maxSkew} s. Sign with the current time and check the client clock.`,
    );
  }
  // Go SDK "unsigned payload" mode signs the literal UNSIGNED-PAYLOAD instead of the body: the body could then be
  // swapped in transit, so we refuse it outright rather than let it fail as a confusing signature mismatch.
  if (headerValue(a.headers, 'x-tc-content-sha256')?.trim().toUpperCase() === 'UNSIGNED-PAYLOAD') {
    return invalid('Unsigned payloads are not accepted; turn off UnsignedPayload in the SDK profile.');
  }

  const secretKey = a.lookupSecret(auth.secretId);
  if (secretKey === undefined) {
    return fail(
      'AuthFailure.SecretIdNotFound',
      `The SecretId ${auth.secretId.slice(0, 64)} is not found; check the SecretId the client is configured with.`,
    );
  }

  const values: Array<[string, string]> = [];
  for (const name of auth.signedHeaders) {
    const v = headerValue(a.headers, name);
    if (v === undefined) {
      return invalid(`Signed header ${name} is not present in the request; send every header listed in SignedHeaders.`);
    }
    values.push([name, v]);
  }

  // The host as received, then (if it has one) without the port — the Node SDK signs the latter.
  const host = values.find(([n]) => n === 'host')![1].trim();
  const hosts = [host];
  const portless = host.replace(/:\d+$/, '');
  if (portless !== host) hosts.push(portless);

  const payloadHash = sha256Hex(a.body);
  const signingKey = tc3SigningKey(secretKey, auth.date, auth.service);
  const given = Buffer.from(auth.signature, 'hex');
  for (const candidate of hosts) {
    const headers = values.map(([n, v]) => [n, n === 'host' ? candidate : v] as const);
    const canonical = tc3CanonicalRequest({ method: a.method, path: a.path, query: a.query, headers, payloadHash });
    const stringToSign = tc3StringToSign(timestamp, auth.date, auth.service, canonical);
    const expected = Buffer.from(tc3Signature(signingKey, stringToSign), 'hex');
    if (timingSafeEqual(expected, given)) {
      return { ok: true, secretId: auth.secretId, service: auth.service, date: auth.date, timestamp };
    }
  }
  return fail(
    'AuthFailure.SignatureFailure',
    'The provided credentials could not be validated. Check the SecretKey for this SecretId, sign the body exactly as ' +
      'it is sent, and sign content-type and host with the values actually sent.',
  );
}
