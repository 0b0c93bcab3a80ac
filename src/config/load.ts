// Loads the configuration: config/default.json, then the --config file merged over it, then ROOMGATE_<PATH>
// environment variables for single keys. Any problem becomes a ConfigError whose message is one line naming the
// key, so a person starting the gateway sees exactly what to fix.

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { configSchema, DEMO_SECRET_KEY, type Config, type FieldSpec } from './schema.js';
import { repoPath } from '../paths.js';
import { compileHostRules } from '../ingest/pull/host-rules.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

export interface LoadOptions {
  /** Path of a JSON file merged over the defaults. */
  file?: string;
  /** Environment to read ROOMGATE_* overrides from (defaults to process.env). */
  env?: NodeJS.ProcessEnv;
  /** An object merged over defaults and file (tests, embedding). */
  overrides?: JsonObject;
}

export function loadConfig(opts: LoadOptions = {}): Config {
  let merged = readJson(repoPath('config/default.json'), 'config/default.json') as JsonObject;
  if (opts.file) merged = mergeObjects(merged, asObject(readJson(opts.file, opts.file), opts.file));
  if (opts.overrides) merged = mergeObjects(merged, opts.overrides);
  applyEnv(merged, opts.env ?? process.env);
  const config = check(configSchema, merged, '') as unknown as Config;
  checkCrossKey(config);
  return config;
}

function readJson(path: string, label: string): Json {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`config file ${label}: cannot read it (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  try {
    return JSON.parse(text) as Json;
  } catch (e) {
    throw new ConfigError(`config file ${label}: not valid JSON (${(e as Error).message})`);
  }
}

function asObject(v: Json, label: string): JsonObject {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`config file ${label}: must hold a JSON object`);
  return v;
}

/** Objects merge key by key; arrays and scalars from `over` replace what `base` had. */
function mergeObjects(base: JsonObject, over: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    const bothObjects = isPlainObject(b) && isPlainObject(v);
    out[k] = bothObjects ? mergeObjects(b as JsonObject, v as JsonObject) : v;
  }
  return out;
}

/** Keys that older versions took, with what became of them: a config that still sets one is told, not just refused. */
const REMOVED: Record<string, string> = {
  'rtmp.dataPlane': 'every publisher now runs on the native media engine, which reads RTMP sockets itself',
  'webrtc.nativeSend': "every viewer's RTP now leaves through the native media engine",
};

function isPlainObject(v: unknown): boolean {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * ROOMGATE_HTTP_PORT=8081 sets http.port; ROOMGATE_APPS_0_SECRETKEY sets apps[0].secretKey. Segments match keys
 * case-insensitively; a value for an object or array key is parsed as JSON.
 */
function applyEnv(root: JsonObject, env: NodeJS.ProcessEnv): void {
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('ROOMGATE_') || raw === undefined) continue;
    const segments = name.slice('ROOMGATE_'.length).split('_');
    setByEnvPath(root, configSchema, segments, raw, name);
  }
}

function setByEnvPath(node: Json, spec: FieldSpec, segs: string[], raw: string, envName: string): void {
  // Keys may themselves hold no underscores, so each segment is one key or one array index.
  const [head, ...rest] = segs;
  if (spec.type === 'object' && isPlainObject(node)) {
    const key = Object.keys(spec.fields).find((k) => k.toLowerCase() === head.toLowerCase());
    if (!key) throw new ConfigError(`${envName}: no config key '${head.toLowerCase()}' at this place`);
    const obj = node as JsonObject;
    if (rest.length === 0) {
      obj[key] = parseEnvValue(spec.fields[key], raw, envName);
      return;
    }
    const child = spec.fields[key];
    if (obj[key] === undefined) obj[key] = child.type === 'array' ? [] : {};
    setByEnvPath(obj[key], child, rest, raw, envName);
    return;
  }
  if (spec.type === 'array' && Array.isArray(node)) {
    const idx = Number(head);
    if (!Number.isInteger(idx) || idx < 0 || idx > node.length) {
      throw new ConfigError(`${envName}: '${head}' is not an index of an existing item (0..${node.length})`);
    }
    if (rest.length === 0) {
      node[idx] = parseEnvValue(spec.items, raw, envName);
      return;
    }
    if (node[idx] === undefined) node[idx] = {};
    setByEnvPath(node[idx], spec.items, rest, raw, envName);
    return;
  }
  throw new ConfigError(`${envName}: does not name a config key`);
}

function parseEnvValue(spec: FieldSpec, raw: string, envName: string): Json {
  switch (spec.type) {
    case 'string':
      return raw;
    case 'integer':
      // Left as a string when it is not a number, so the checker reports it against the key's name.
      return /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
    case 'boolean':
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      return raw;
    default:
      try {
        return JSON.parse(raw) as Json;
      } catch {
        throw new ConfigError(`${envName}: must be JSON for this key`);
      }
  }
}

function check(spec: FieldSpec, value: Json | undefined, path: string): Json {
  const where = path || 'config';
  if (value === undefined) {
    if (spec.default !== undefined) return spec.default as Json;
    throw new ConfigError(`${where}: missing`);
  }
  switch (spec.type) {
    case 'string':
      if (typeof value !== 'string') throw new ConfigError(`${where}: must be a string, got ${describe(value)}`);
      if (spec.nonEmpty && value.trim() === '') throw new ConfigError(`${where}: must not be empty`);
      if (spec.oneOf && !spec.oneOf.includes(value)) {
        throw new ConfigError(`${where}: must be one of ${spec.oneOf.join(', ')}, got '${value}'`);
      }
      return value;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        throw new ConfigError(`${where}: must be a whole number, got ${describe(value)}`);
      }
      if (value < spec.min || value > spec.max) {
        throw new ConfigError(`${where}: ${value} is out of range ${spec.min}–${spec.max}`);
      }
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw new ConfigError(`${where}: must be true or false, got ${describe(value)}`);
      return value;
    case 'object': {
      if (!isPlainObject(value)) throw new ConfigError(`${where}: must be an object, got ${describe(value)}`);
      const obj = value as JsonObject;
      for (const k of Object.keys(obj)) {
        if (!(k in spec.fields)) {
          const full = path ? `${path}.${k}` : k;
          if (REMOVED[full]) throw new ConfigError(`${full}: removed — ${REMOVED[full]}; delete it from the config`);
          const known = Object.keys(spec.fields).join(', ');
          throw new ConfigError(`${path ? path + '.' : ''}${k}: unknown key (known here: ${known})`);
        }
      }
      const out: JsonObject = {};
      for (const [k, child] of Object.entries(spec.fields)) out[k] = check(child, obj[k], path ? `${path}.${k}` : k);
      return out;
    }
    case 'array': {
      if (!Array.isArray(value)) throw new ConfigError(`${where}: must be an array, got ${describe(value)}`);
      const items = value.map((item, i) => check(spec.items, item, `${path}[${i}]`));
      if (spec.unique) checkUnique(items as JsonObject[], spec.unique, path);
      return items;
    }
  }
}

function checkUnique(items: JsonObject[], key: string, path: string): void {
  const seen = new Map<Json, number>();
  items.forEach((item, i) => {
    const v = item[key];
    const first = seen.get(v);
    if (first !== undefined) {
      throw new ConfigError(`${path}[${i}].${key}: duplicate ${key} ${JSON.stringify(v)} (also at ${path}[${first}])`);
    }
    seen.set(v, i);
  });
}

function describe(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** Rules that span keys: the demo key stays on loopback; delay bounds are ordered; pull host patterns parse. */
function checkCrossKey(c: Config): void {
  const publicHost = [c.rtmp.host, c.http.host].find((h) => !isLoopback(h));
  if (publicHost) {
    const i = c.apps.findIndex((a) => a.secretKey === DEMO_SECRET_KEY);
    if (i >= 0) {
      throw new ConfigError(
        `apps[${i}].secretKey: the demo key is public and only allowed while every listener binds loopback, ` +
          `but a listener binds ${publicHost}; set your own secret key`,
      );
    }
    const j = c.api.credentials.findIndex((k) => k.secretKey === DEMO_SECRET_KEY);
    if (j >= 0) {
      throw new ConfigError(
        `api.credentials[${j}].secretKey: the demo key is public and only allowed while every listener binds ` +
          `loopback, but a listener binds ${publicHost}; set your own secret key`,
      );
    }
  }
  if (c.webrtc.udpPortMin >= c.webrtc.udpPortMax) {
    throw new ConfigError('webrtc.udpPortMin: must be below webrtc.udpPortMax');
  }
  if (c.store.kind === 'redis' && !/^rediss?:\/\/[^/]/.test(c.store.redisUrl)) {
    throw new ConfigError("store.redisUrl: store.kind 'redis' needs the Redis to use, e.g. redis://127.0.0.1:6379");
  }
  if (c.rtmp.authFailureDelayMinMs > c.rtmp.authFailureDelayMaxMs) {
    throw new ConfigError('rtmp.authFailureDelayMinMs: must not exceed rtmp.authFailureDelayMaxMs');
  }
  try {
    compileHostRules(c.pull.allow, c.pull.deny);
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
}
