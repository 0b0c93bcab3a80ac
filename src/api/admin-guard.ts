// Status and admin endpoints: loopback callers are trusted (the operator on the box); anyone else needs
// Authorization: Bearer <admin.token>. With no token configured those endpoints are loopback-only.

import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

export function isLoopbackAddress(ip: string | undefined): boolean {
  if (!ip) return false;
  return ip.startsWith('127.') || ip === '::1' || ip.startsWith('::ffff:127.');
}

export function adminGuard(token: string) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (isLoopbackAddress(req.socket.remoteAddress)) return;
    if (!token) {
      await reply.code(403).send({ error: 'the admin API answers loopback callers only unless admin.token is set' });
      return;
    }
    const given = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const a = Buffer.from(given);
    const b = Buffer.from(token);
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      await reply.code(401).send({ error: 'missing or wrong admin token: send Authorization: Bearer <admin.token>' });
    }
  };
}
