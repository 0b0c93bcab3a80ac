// GET /healthz: 200 once every listener is up, 503 while starting or draining (load balancers stop sending work),
// and 503 while a part the node needs is unusable (the shared store's Redis unreachable), with the sentence why.

import type { FastifyInstance } from 'fastify';

export type HealthState = 'starting' | 'ready' | 'draining';

export class Health {
  state: HealthState = 'starting';
  /** Each says why the node cannot do its work now, or undefined (e.g. the store: "store: redis unreachable at …"). */
  readonly checks: Array<() => string | undefined> = [];

  problems(): string[] {
    return this.checks.map((c) => c()).filter((p): p is string => p !== undefined);
  }
}

export function registerHealth(app: FastifyInstance, health: Health): void {
  app.get('/healthz', async (_req, reply) => {
    const problems = health.problems();
    const ok = health.state === 'ready' && problems.length === 0;
    const body = problems.length > 0 ? { status: health.state, problems } : { status: health.state };
    return reply.code(ok ? 200 : 503).send(body);
  });
}
