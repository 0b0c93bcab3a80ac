// The Tencent Cloud API 3.0 endpoint: POST / with X-TC-Action / X-TC-Version / X-TC-Timestamp and a TC3-HMAC-SHA256
// Authorization, so the official SDKs (endpoint + "http://") and tccli work unchanged. Order of checks: body size
// (before parsing) → signature → rate per SecretId → action and version → JSON → parameters → the action.
// Every answer is HTTP 200 with the Response envelope, including fastify's own body errors on this route.

import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../log.js';
import { verifyTc3Request } from '../auth/tc3.js';
import type { Door } from '../room/door.js';
import { Api3Error, sendApi3, sendApi3Error } from './api3-envelope.js';
import { cloudRecordingActions } from './cloud-recording-actions.js';
import { cdnRelayActions } from './cdn-relay-actions.js';
import type { CdnRelayService } from './cdn-relay-service.js';
import type { CloudRecordingService } from './cloud-recording-service.js';
import type { HistoryStore } from '../store/history.js';
import { roomQueryActions } from './room-query-actions.js';
import { roomControlActions } from './room-control-actions.js';
import type { RoomControlService } from './room-control-service.js';
import { RateLimiter } from './rate-limit.js';
import { streamIngestActions, type ActionHandler } from './stream-ingest-actions.js';
import type { StreamIngestService } from './stream-ingest-service.js';
import { StoreUnreachableError } from '../store/redis-connection.js';

export const API_VERSION = '2019-07-22';

export interface TencentApiOptions {
  credentials: ReadonlyArray<{ secretId: string; secretKey: string }>;
  requestsPerSecond: number;
  bodyLimitBytes: number;
  door: Door;
  service: StreamIngestService;
  recording: CloudRecordingService;
  relay: CdnRelayService;
  /** The history the room and user queries answer from, and how many days of it are kept. */
  history: HistoryStore;
  historyRetentionDays: number;
  roomControl: RoomControlService;
  log: Logger;
  /** Told each call's time from arrival to answer, by action ('other' for calls that named no known action). */
  observe?: (action: string, seconds: number) => void;
}

/** The action table: every API 3.0 action by name. The console (src/api/console.ts) acts through it too. */
export function tencentActions(o: Omit<TencentApiOptions, 'credentials' | 'requestsPerSecond' | 'bodyLimitBytes' | 'log' | 'observe'>): Record<string, ActionHandler> {
  return {
    ...streamIngestActions({ door: o.door, service: o.service }),
    ...cloudRecordingActions({ door: o.door, service: o.recording }),
    ...cdnRelayActions({ door: o.door, service: o.relay }),
    ...roomQueryActions({ door: o.door, history: o.history, retentionDays: o.historyRetentionDays }),
    ...roomControlActions({ door: o.door, service: o.roomControl }),
  };
}

export function registerTencentApi(app: FastifyInstance, o: TencentApiOptions): void {
  const secrets = new Map(o.credentials.map((c) => [c.secretId, c.secretKey]));
  const limiter = new RateLimiter(o.requestsPerSecond);
  const actions = tencentActions(o);
  const log = o.log.child({ component: 'api3' });

  // A plugin scope, so the raw-bytes body parser and the envelope error handler apply to this route only.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    // The signature covers the exact bytes, so the body is kept raw and parsed here after verification.
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: o.bodyLimitBytes }, (_req, body, done) => done(null, body));
    scope.setErrorHandler((err: Error & { code?: string; statusCode?: number }, req, reply) => {
      const requestId = requestIdOf(req);
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        return sendApi3Error(reply, requestId, 'RequestSizeLimitExceeded', `The request body is larger than ${o.bodyLimitBytes} bytes.`);
      }
      if ((err.statusCode ?? 500) < 500) {
        return sendApi3Error(reply, requestId, 'InvalidParameter.BodyParamsError', `The request could not be read: ${err.message}.`);
      }
      log.error({ err }, 'API 3.0 request failed');
      return sendApi3Error(reply, requestId, 'InternalError', 'An internal error occurred; retry the request.');
    });
    scope.post('/', async (req, reply) => {
      const startedAt = performance.now();
      try {
        return await handle(req, reply);
      } finally {
        const action = header(req, 'x-tc-action');
        // only the table's names become labels: a caller cannot make new series by naming actions
        o.observe?.(action && Object.hasOwn(actions, action) ? action : 'other', (performance.now() - startedAt) / 1000);
      }
    });
  });

  async function handle(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const requestId = requestIdOf(req);
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const action = header(req, 'x-tc-action');
    try {
      const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '';
      const auth = verifyTc3Request({
        method: req.method,
        headers: req.headers,
        body,
        query,
        lookupSecret: (id) => secrets.get(id),
      });
      if (!auth.ok) throw new Api3Error(auth.code, auth.message);
      if (!limiter.take(auth.secretId)) {
        throw new Api3Error(
          'RequestLimitExceeded',
          `More than ${o.requestsPerSecond} requests per second with SecretId ${auth.secretId}; slow down and retry.`,
        );
      }
      if (!action) throw new Api3Error('MissingParameter', 'The X-TC-Action header is missing: name the action, e.g. StartStreamIngest.');
      const handler = Object.hasOwn(actions, action) ? actions[action] : undefined;
      if (!handler) {
        throw new Api3Error(
          'InvalidAction',
          `The action ${JSON.stringify(action.slice(0, 64))} is not supported; this service offers ${Object.keys(actions).join(', ')}.`,
        );
      }
      const version = header(req, 'x-tc-version');
      if (version !== API_VERSION) {
        throw new Api3Error(
          version ? 'NoSuchVersion' : 'MissingParameter',
          `X-TC-Version must be ${API_VERSION} for ${action}; got ${version ? JSON.stringify(version.slice(0, 32)) : 'none'}.`,
        );
      }
      const params = parseJsonObject(body);
      const fields = await handler(params);
      // Describe is what callers poll; the others change state and are worth a line each.
      const level = action.startsWith('Describe') ? 'debug' : 'info';
      log[level]({ action, requestId, ...logFields(params, fields) }, 'API 3.0 call');
      return sendApi3(reply, requestId, fields);
    } catch (err) {
      // many nodes: the shared store (Redis) is away; the caller may retry once it is back
      if (err instanceof StoreUnreachableError) {
        log.warn({ action, requestId, reason: err.message }, 'API 3.0 call refused: the store is unreachable');
        return sendApi3Error(reply, requestId, 'ResourceUnavailable', `${err.message}; retry the request once it is back.`);
      }
      if (!(err instanceof Api3Error)) throw err;
      log.info({ action, requestId, code: err.code, reason: err.message }, 'API 3.0 call refused');
      return sendApi3Error(reply, requestId, err.code, err.message);
    }
  }
}

const requestIds = new WeakMap<FastifyRequest, string>();
function requestIdOf(req: FastifyRequest): string {
  let id = requestIds.get(req);
  if (!id) requestIds.set(req, (id = randomUUID()));
  return id;
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return (Array.isArray(v) ? v[0] : v)?.trim() || undefined;
}

function parseJsonObject(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new Api3Error('InvalidParameter.BodyParamsError', `The body is not valid JSON (${(e as Error).message}); send a JSON object.`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new Api3Error('InvalidParameter.BodyParamsError', 'The body must be a JSON object of the action\'s parameters.');
  }
  return v as Record<string, unknown>;
}

function logFields(params: Record<string, unknown>, fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const taskId = fields.TaskId ?? params.TaskId;
  if (typeof taskId === 'string') out.taskId = taskId;
  if (typeof fields.Status === 'string') out.status = fields.Status;
  return out;
}
