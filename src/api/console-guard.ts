// Who may use /console: with admin.token set, only who presents it — on every address, loopback too (the console
// acts: it removes users and stops tasks), as a Bearer header, or as the cookie the page sets when it is opened with
// ?token=. Without a token configured the console answers loopback callers only, like /api/*.

import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isLoopbackAddress } from './admin-guard.js';

export const CONSOLE_COOKIE = 'roomgate_console';

/** The token a request presents: Bearer header, the console's cookie, or ?token= (the URL scripts/run prints). */
export function presentedToken(req: FastifyRequest): string {
  const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (bearer) return bearer;
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === CONSOLE_COOKIE) return decodeURIComponent(v.join('='));
  }
  const q = (req.query as Record<string, unknown> | undefined)?.token;
  return typeof q === 'string' ? q : '';
}

export function tokenMatches(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function consoleGuard(token: string) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!token) {
      if (isLoopbackAddress(req.socket.remoteAddress)) return;
      await reply.code(403).send({ error: 'the console answers loopback callers only unless admin.token is set' });
      return;
    }
    if (!tokenMatches(presentedToken(req), token)) {
      await reply.code(401).send({ error: 'missing or wrong admin token: open /console?token=<admin.token>' });
    }
  };
}
