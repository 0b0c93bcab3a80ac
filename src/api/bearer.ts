// The credential a WHIP/WHEP request carries: `Authorization: Bearer <UserSig or JWT>`.

import type { FastifyRequest } from 'fastify';

export function bearerToken(req: FastifyRequest): string {
  return /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
}
