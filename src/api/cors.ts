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

/** A refusal a person reads: the status and one line saying why, readable by pages on other origins. */
export function refuse(reply: FastifyReply, status: number, reason: string): FastifyReply {
  return withCors(reply).code(status).type('text/plain; charset=utf-8').send(reason + '\n');
}

/** Answers preflight requests for every path under `prefix`. */
export function registerPreflight(app: FastifyInstance, prefix: string, links: string[] = []): void {
  app.options(`${prefix}/*`, async (_req, reply) => {
    // WHIP clients may ask for the ICE servers with OPTIONS (RFC 9725 §4.6).
    if (links.length) reply.header('Link', links);
    return withCors(reply)
      .header('Access-Control-Allow-Methods', ALLOW_METHODS)
      .header('Access-Control-Allow-Headers', ALLOW_HEADERS)
      .header('Access-Control-Max-Age', '600')
      .header('Accept-Post', 'application/sdp')
      .code(204)
      .send();
  });
}
