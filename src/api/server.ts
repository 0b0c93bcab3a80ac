// The one HTTP server (WHIP, WHEP, API 3.0, status, health, play page). Routes live in their own files; this one
// only builds the server and its shared settings, including the deadlines that keep slow or silent clients from
// holding sockets (see connection-guard.ts for the per-address cap and the counting).

import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from '../log.js';
import type { Config } from '../config/schema.js';
import type { RefusalCounters } from '../events/refusal-counters.js';
import { guardConnections } from './connection-guard.js';

/**
 * Node checks headersTimeout/requestTimeout only every connectionsCheckingInterval (30 s by default), so a
 * slow-header client would live up to 30 s past its deadline; a quarter of the header deadline, at most 1 s, keeps
 * the overshoot small. The check walks Node's list of sockets with a request in progress, which is cheap.
 */
export function connectionsCheckingIntervalMs(headersTimeoutMs: number): number {
  return Math.max(25, Math.min(1000, Math.floor(headersTimeoutMs / 4)));
}

export function createHttpServer(log: Logger, opts: Config['http'], counters: RefusalCounters): FastifyInstance {
  const bodyLimit = opts.bodyLimitBytes;
  // Node refuses a header deadline later than the request deadline; the request deadline covers the headers anyway.
  const headersTimeout = Math.min(opts.headersTimeoutMs, opts.requestTimeoutMs);
  const httpLog = log.child({ component: 'http' });
  // Fastify's instance type is generic over the logger; the plain FastifyInstance is what routes are written against.
  const app = Fastify({
    loggerInstance: httpLog,
    bodyLimit,
    // Handed to http.createServer; Fastify then sets keepAliveTimeout and requestTimeout again from its own options.
    http: {
      headersTimeout,
      requestTimeout: opts.requestTimeoutMs,
      keepAliveTimeout: opts.keepAliveTimeoutMs,
      connectionsCheckingInterval: connectionsCheckingIntervalMs(headersTimeout),
    },
    requestTimeout: opts.requestTimeoutMs,
    keepAliveTimeout: opts.keepAliveTimeoutMs,
    // server.timeout: a socket with no traffic either way for this long is closed, whatever state it is in.
    connectionTimeout: opts.idleTimeoutMs,
    // Per-request log lines would drown the media events; routes log what matters themselves.
    logController: new LogController({ disableRequestLogging: true }),
    // SDP and trickle fragments arrive as text; they are parsed by their routes.
  }) as unknown as FastifyInstance;
  guardConnections(app.server, opts, counters, httpLog);
  app.addContentTypeParser(['application/sdp', 'application/trickle-ice-sdpfrag'], { parseAs: 'string' }, (_req, body, done) =>
    done(null, body),
  );
  return app;
}
