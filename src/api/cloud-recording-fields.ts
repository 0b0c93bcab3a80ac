// Typed readers for the cloud-recording parameters. Each refusal names the field by its path in the request
// ("RecordParams.MaxIdleTime", "MixLayoutParams.MixLayoutList[2].Top") and says what is allowed.
//
// Codes: a wrong type or a value outside the documented range is InvalidParameter.OutOfRange, the one value code the
// Go SDK lists for these actions (trtc-egress.md §1.8). A missing required field is MissingParameter.<Name> where
// the reference names one, else the common MissingParameter. null counts as absent: the official SDK drops nulls,
// so a null only comes from a hand-made body and means "not sent".

import { quote } from '../auth/ids.js';
import { Api3Error } from './api3-envelope.js';

export type Obj = Record<string, unknown>;

export const OUT_OF_RANGE = 'InvalidParameter.OutOfRange';
/** "Unsupported on-cloud recording method" in Tencent's catalogue: what this gateway cannot record or store. */
export const UNSUPPORTED = 'FailedOperation.CRUnsupportMethod';

export function at(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

export function present(o: Obj, key: string): boolean {
  return o[key] !== undefined && o[key] !== null;
}

export function show(v: unknown): string {
  if (typeof v === 'string') return quote(v);
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

export function outOfRange(path: string, rule: string, v: unknown): Api3Error {
  return new Api3Error(OUT_OF_RANGE, `${path} must be ${rule}; got ${show(v)}.`);
}

/** A required field: throws `code` with "<path> is missing: <what to send>." */
export function need(o: Obj, key: string, path: string, code: string, what: string): unknown {
  if (!present(o, key)) throw new Api3Error(code, `${at(path, key)} is missing: ${what}.`);
  return o[key];
}

export function asObject(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw outOfRange(path, 'a JSON object', v);
  return v as Obj;
}

export function object(o: Obj, key: string, path: string): Obj | undefined {
  return present(o, key) ? asObject(o[key], at(path, key)) : undefined;
}

export function int(o: Obj, key: string, path: string, min: number, max: number, unit = ''): number | undefined {
  if (!present(o, key)) return undefined;
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw outOfRange(at(path, key), `an integer from ${min} to ${max}${unit ? ` (${unit})` : ''}`, v);
  }
  return v;
}

/** An enumeration: `meanings` maps each allowed number to what it selects, for the message. */
export function choice<T extends number>(o: Obj, key: string, path: string, meanings: Readonly<Record<number, string>>): T | undefined {
  if (!present(o, key)) return undefined;
  const v = o[key];
  if (typeof v !== 'number' || !Object.hasOwn(meanings, v)) {
    const list = Object.entries(meanings).map(([n, what]) => `${n} (${what})`);
    throw outOfRange(at(path, key), `${list.slice(0, -1).join(', ')} or ${list[list.length - 1]}`, v);
  }
  return v as T;
}

export function bool(o: Obj, key: string, path: string): boolean | undefined {
  if (!present(o, key)) return undefined;
  if (typeof o[key] !== 'boolean') throw outOfRange(at(path, key), 'true or false', o[key]);
  return o[key] as boolean;
}

export function string(o: Obj, key: string, path: string): string | undefined {
  if (!present(o, key)) return undefined;
  if (typeof o[key] !== 'string') throw outOfRange(at(path, key), 'a string', o[key]);
  return o[key] as string;
}

export function list(o: Obj, key: string, path: string, max: number): unknown[] | undefined {
  if (!present(o, key)) return undefined;
  const v = o[key];
  if (!Array.isArray(v)) throw outOfRange(at(path, key), `an array of at most ${max} entries`, v);
  if (v.length > max) {
    throw new Api3Error(OUT_OF_RANGE, `${at(path, key)} has ${v.length} entries; the limit is ${max}.`);
  }
  return v;
}

/**
 * A field this gateway cannot honour (an image URL, watermarks): refused rather than ignored, so nobody finds out
 * from the recording. An empty string or list asks for nothing and passes.
 */
export function refuseIfSet(o: Obj, key: string, path: string, why: string): void {
  const v = o[key];
  if (v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0)) return;
  throw new Api3Error(UNSUPPORTED, `${at(path, key)} is not supported: ${why}. Remove it to record without it.`);
}
