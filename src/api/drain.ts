// POST /api/drain (admin guard): the operator's way to take this node out of service without cutting anyone off,
// the same as SIGTERM. Answers 202 at once; /healthz is 503 from then on, new publishers are refused with a reason
// that tells them to reconnect (elsewhere), and the gateway closes once its sessions ended or drain.timeoutMs passed.

import type { FastifyInstance } from 'fastify';
import { adminGuard } from './admin-guard.js';

export function registerDrain(app: FastifyInstance, drain: () => void, timeoutMs: number, adminToken: string): void {
  app.post('/api/drain', { onRequest: adminGuard(adminToken) }, async (_req, reply) => {
    drain();
    return reply.code(202).send({ status: 'draining', timeoutMs });
  });
}
