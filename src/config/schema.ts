// The shape of roomgate's configuration: every key, its type and its bounds. `config/default.json` holds the
// defaults and `config/README.md` explains each key; this file is what the loader checks a config against.

// `default` fills a key missing inside an array item (top-level defaults come from config/default.json).
export type FieldSpec = (
  | { type: 'string'; nonEmpty?: boolean; oneOf?: readonly string[] }
  | { type: 'integer'; min: number; max: number }
  | { type: 'boolean' }
  | { type: 'object'; fields: Record<string, FieldSpec> }
  | { type: 'array'; items: FieldSpec; unique?: string }
) & { default?: unknown };

// 0 asks the OS for a free port (tests, side-by-side instances); the actual port is logged.
const port: FieldSpec = { type: 'integer', min: 0, max: 65535 };
const host: FieldSpec = { type: 'string', nonEmpty: true };

export const configSchema: FieldSpec = {
  type: 'object',
  fields: {
    log: {
      type: 'object',
      fields: { level: { type: 'string', oneOf: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] } },
    },
    rtmp: {
      type: 'object',
      fields: {
        host,
        port,
        maxConnections: { type: 'integer', min: 1, max: 100000 },
        publishTimeoutMs: { type: 'integer', min: 100, max: 600000 },
        maxChunkSize: { type: 'integer', min: 128, max: 16777215 },
        authFailureDelayMinMs: { type: 'integer', min: 0, max: 10000 },
        authFailureDelayMaxMs: { type: 'integer', min: 0, max: 10000 },
      },
    },
    http: {
      type: 'object',
      fields: { host, port, bodyLimitBytes: { type: 'integer', min: 1024, max: 16 * 1024 * 1024 } },
    },
    apps: {
      type: 'array',
      unique: 'sdkAppId',
      items: {
        type: 'object',
        fields: {
          sdkAppId: { type: 'integer', min: 1, max: 4294967295 },
          secretKey: { type: 'string', nonEmpty: true },
          callbackUrl: { type: 'string', default: '' },
          callbackKey: { type: 'string', default: '' },
          requirePrivateMapKey: { type: 'boolean', default: false },
        },
      },
    },
    api: {
      type: 'object',
      fields: {
        credentials: {
          type: 'array',
          unique: 'secretId',
          items: {
            type: 'object',
            fields: { secretId: { type: 'string', nonEmpty: true }, secretKey: { type: 'string', nonEmpty: true } },
          },
        },
      },
    },
    admin: { type: 'object', fields: { token: { type: 'string' } } },
  },
};

export interface AppConfig {
  sdkAppId: number;
  secretKey: string;
  callbackUrl: string;
  callbackKey: string;
  requirePrivateMapKey: boolean;
}

export interface Config {
  log: { level: string };
  rtmp: {
    host: string;
    port: number;
    maxConnections: number;
    publishTimeoutMs: number;
    maxChunkSize: number;
    authFailureDelayMinMs: number;
    authFailureDelayMaxMs: number;
  };
  http: { host: string; port: number; bodyLimitBytes: number };
  apps: AppConfig[];
  api: { credentials: { secretId: string; secretKey: string }[] };
  admin: { token: string };
}

/**
 * The secret key shipped in config/default.json so that a newcomer can try roomgate at once. Everybody knows it,
 * so the loader refuses it unless every listener binds a loopback address.
 */
export const DEMO_SECRET_KEY = 'roomgate-demo-key-only-for-loopback-0123456789abcdef';
