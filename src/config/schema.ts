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
        maxConnectionsPerAddress: { type: 'integer', min: 1, max: 100000 },
        handshakeTimeoutMs: { type: 'integer', min: 100, max: 600000 },
        publishTimeoutMs: { type: 'integer', min: 100, max: 600000 },
        idleTimeoutMs: { type: 'integer', min: 100, max: 600000 },
        maxChunkSize: { type: 'integer', min: 128, max: 16777215 },
        authFailureDelayMinMs: { type: 'integer', min: 0, max: 10000 },
        authFailureDelayMaxMs: { type: 'integer', min: 0, max: 10000 },
      },
    },
    http: {
      type: 'object',
      fields: {
        host,
        port,
        bodyLimitBytes: { type: 'integer', min: 1024, max: 16 * 1024 * 1024 },
        maxConnectionsPerAddress: { type: 'integer', min: 1, max: 100000 },
        headersTimeoutMs: { type: 'integer', min: 100, max: 600000 },
        requestTimeoutMs: { type: 'integer', min: 100, max: 600000 },
        keepAliveTimeoutMs: { type: 'integer', min: 100, max: 600000 },
        idleTimeoutMs: { type: 'integer', min: 100, max: 600000 },
      },
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
          viewerEvents: { type: 'boolean', default: true },
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
        requestsPerSecond: { type: 'integer', min: 1, max: 100000 },
        maxTasks: { type: 'integer', min: 0, max: 100000 },
      },
    },
    pull: {
      type: 'object',
      fields: {
        ffmpegPath: { type: 'string', nonEmpty: true },
        ffprobePath: { type: 'string', nonEmpty: true },
        allow: { type: 'array', items: { type: 'string', nonEmpty: true } },
        deny: { type: 'array', items: { type: 'string', nonEmpty: true } },
        startRetryDelaysMs: { type: 'array', items: { type: 'integer', min: 0, max: 600000 } },
        startTimeoutMs: { type: 'integer', min: 500, max: 600000 },
        stallTimeoutMs: { type: 'integer', min: 500, max: 600000 },
        maxPauseSeconds: { type: 'integer', min: 1, max: 604800 },
      },
    },
    recording: {
      type: 'object',
      fields: {
        dir: { type: 'string', nonEmpty: true },
        maxTasks: { type: 'integer', min: 0, max: 100000 },
        hlsSegmentSeconds: { type: 'integer', min: 1, max: 120 },
        resumeSeconds: { type: 'integer', min: 1, max: 86400 },
        uploadDrainSeconds: { type: 'integer', min: 0, max: 86400 },
        storageEndpoints: {
          type: 'object',
          fields: { '0': { type: 'string', nonEmpty: true }, '1': { type: 'string', nonEmpty: true } },
        },
      },
    },
    relay: {
      type: 'object',
      fields: {
        maxTasks: { type: 'integer', min: 0, max: 100000 },
        retrySeconds: { type: 'integer', min: 1, max: 3600 },
        giveUpSeconds: { type: 'integer', min: 1, max: 86400 },
        pushWith: { type: 'string', oneOf: ['engine', 'ffmpeg'] },
      },
    },
    callbacks: {
      type: 'object',
      fields: {
        timeoutMs: { type: 'integer', min: 100, max: 60000 },
        retryIntervalMs: { type: 'integer', min: 10, max: 600000 },
        maxAgeMs: { type: 'integer', min: 0, max: 86400000 },
        maxQueued: { type: 'integer', min: 1, max: 10000000 },
        flushOnCloseMs: { type: 'integer', min: 0, max: 60000 },
      },
    },
    admin: { type: 'object', fields: { token: { type: 'string' } } },
    webrtc: {
      type: 'object',
      fields: {
        hostAddresses: { type: 'array', items: { type: 'string', nonEmpty: true } },
        announcedAddresses: { type: 'array', items: { type: 'string', nonEmpty: true } },
        udpPortMin: { type: 'integer', min: 1024, max: 65535 },
        udpPortMax: { type: 'integer', min: 1024, max: 65535 },
        connectTimeoutMs: { type: 'integer', min: 100, max: 600000 },
        maxSessionsPerApp: { type: 'integer', min: 1, max: 1000000 },
        maxSessionsPerUser: { type: 'integer', min: 1, max: 1000000 },
        iceServers: {
          type: 'array',
          items: {
            type: 'object',
            fields: {
              urls: { type: 'string', nonEmpty: true },
              username: { type: 'string', default: '' },
              credential: { type: 'string', default: '' },
            },
          },
        },
      },
    },
    store: {
      type: 'object',
      fields: {
        kind: { type: 'string', oneOf: ['sqlite', 'memory', 'redis'] },
        file: { type: 'string', nonEmpty: true },
        redisUrl: { type: 'string' },
        redisPrefix: { type: 'string', nonEmpty: true },
      },
    },
    history: {
      type: 'object',
      fields: {
        retentionDays: { type: 'integer', min: 1, max: 3650 },
        sampleSeconds: { type: 'integer', min: 1, max: 3600 },
      },
    },
    room: {
      type: 'object',
      fields: {
        reconnectGraceMs: { type: 'integer', min: 0, max: 600000 },
        opusBitrate: { type: 'integer', min: 6000, max: 510000 },
        opusComplexity: { type: 'integer', min: 0, max: 10 },
      },
    },
    drain: { type: 'object', fields: { timeoutMs: { type: 'integer', min: 0, max: 3600000 } } },
    node: {
      type: 'object',
      fields: { id: { type: 'string' }, leaseMs: { type: 'integer', min: 500, max: 600000 }, httpUrl: { type: 'string' }, internalPort: { type: 'integer', min: -1, max: 65535 } },
    },
  },
};

export interface AppConfig {
  sdkAppId: number;
  secretKey: string;
  callbackUrl: string;
  callbackKey: string;
  requirePrivateMapKey: boolean;
  /** WHEP viewers enter rooms as audience: 103/104 with Role 21, and they keep a room open (101/102). */
  viewerEvents: boolean;
}

export interface Config {
  log: { level: string };
  rtmp: {
    host: string;
    port: number;
    maxConnections: number;
    maxConnectionsPerAddress: number;
    handshakeTimeoutMs: number;
    publishTimeoutMs: number;
    idleTimeoutMs: number;
    maxChunkSize: number;
    authFailureDelayMinMs: number;
    authFailureDelayMaxMs: number;
  };
  http: {
    host: string;
    port: number;
    bodyLimitBytes: number;
    maxConnectionsPerAddress: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    keepAliveTimeoutMs: number;
    idleTimeoutMs: number;
  };
  apps: AppConfig[];
  api: { credentials: { secretId: string; secretKey: string }[]; requestsPerSecond: number; maxTasks: number };
  pull: {
    ffmpegPath: string;
    ffprobePath: string;
    allow: string[];
    deny: string[];
    startRetryDelaysMs: number[];
    startTimeoutMs: number;
    stallTimeoutMs: number;
    maxPauseSeconds: number;
  };
  recording: {
    dir: string;
    maxTasks: number;
    hlsSegmentSeconds: number;
    resumeSeconds: number;
    uploadDrainSeconds: number;
    storageEndpoints: { '0': string; '1': string };
  };
  relay: { maxTasks: number; retrySeconds: number; giveUpSeconds: number; pushWith: 'engine' | 'ffmpeg' };
  store: { kind: 'sqlite' | 'memory' | 'redis'; file: string; redisUrl: string; redisPrefix: string };
  history: { retentionDays: number; sampleSeconds: number };
  callbacks: { timeoutMs: number; retryIntervalMs: number; maxAgeMs: number; maxQueued: number; flushOnCloseMs: number };
  admin: { token: string };
  webrtc: {
    hostAddresses: string[];
    announcedAddresses: string[];
    udpPortMin: number;
    udpPortMax: number;
    connectTimeoutMs: number;
    maxSessionsPerApp: number;
    maxSessionsPerUser: number;
    iceServers: { urls: string; username: string; credential: string }[];
  };
  room: { reconnectGraceMs: number; opusBitrate: number; opusComplexity: number };
  /** SIGTERM or POST /api/drain: how long running sessions may go on before everything is closed. */
  drain: { timeoutMs: number };
  /** Many nodes (store.kind 'redis'): this node's id ('' = hostname-pid) and how long its lease lasts unrenewed. */
  node: { id: string; leaseMs: number; httpUrl: string; internalPort: number };
}

/**
 * The secret key shipped in config/default.json so that a newcomer can try roomgate at once. Everybody knows it,
 * so the loader refuses it unless every listener binds a loopback address.
 */
export const DEMO_SECRET_KEY = 'roomgate-demo-key-only-for-loopback-0123456789abcdef';
