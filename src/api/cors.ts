// CORS for the WHIP/WHEP resources, so a player page on another origin can POST offers, read Location/ETag and
// DELETE its session. These endpoints authenticate with a bearer token, not cookies, so any origin may call them.

import type { FastifyInstance, FastifyReply } from 'fastify';

const ALLOW_METHODS = 'POST, PATCH, DELETE, OPTIONS';
const ALLOW_HEADERS = 'Authorization, Content-Type, If-Match';
const EXPOSE_HEADERS = 'Location, ETag, Link, Accept-Patch';

export function withCors(reply: FastifyReply): FastifyReply {
  return reply
    .header('Access-Control-Allow-Origin', '*')
    .header('Access-Control-Expose-Headers', EXPOSE_HEADERS);
}

/** Answers preflight requests for every path under `prefix`. */
export function registerPreflight(app: FastifyInstance, prefix: string): void {
  app.options(`${prefix}/*`, async (_req, reply) =>
    withCors(reply)
      .header('Access-Control-Allow-Methods', ALLOW_METHODS)
      .header('Access-Control-Allow-Headers', ALLOW_HEADERS)
      .header('Access-Control-Max-Age', '600')
      .header('Accept-Post', 'application/sdp')
      .code(204)
      .send(),
  );
}
