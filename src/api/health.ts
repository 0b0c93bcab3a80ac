// GET /healthz: 200 once every listener is up, 503 while starting or draining (load balancers stop sending work).

import type { FastifyInstance } from 'fastify';

export type HealthState = 'starting' | 'ready' | 'draining';

export class Health {
  state: HealthState = 'starting';
}

export function registerHealth(app: FastifyInstance, health: Health): void {
  app.get('/healthz', async (_req, reply) => {
    const ok = health.state === 'ready';
    return reply.code(ok ? 200 : 503).send({ status: health.state });
  });
}
