// The one HTTP server (WHIP, WHEP, API 3.0, status, health, play page). Routes live in their own files; this one
// only builds the server and its shared settings.

import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from '../log.js';
import type { Config } from '../config/schema.js';

export function createHttpServer(log: Logger, opts: Config['http']): FastifyInstance {
  const bodyLimit = opts.bodyLimitBytes;
  // Fastify's instance type is generic over the logger; the plain FastifyInstance is what routes are written against.
  const app = Fastify({
    loggerInstance: log.child({ component: 'http' }),
    bodyLimit,
    // Per-request log lines would drown the media events; routes log what matters themselves.
    logController: new LogController({ disableRequestLogging: true }),
    // SDP and trickle fragments arrive as text; they are parsed by their routes.
  }) as unknown as FastifyInstance;
  app.addContentTypeParser(['application/sdp', 'application/trickle-ice-sdpfrag'], { parseAs: 'string' }, (_req, body, done) =>
    done(null, body),
  );
  return app;
}
