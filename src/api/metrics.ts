// GET /metrics: the Prometheus text format (src/metrics/gateway-metrics.ts), behind the same guard as /api/*:
// loopback callers (a Prometheus on the box, or scraping through a local agent) need nothing, others send
// Authorization: Bearer <admin.token> (Prometheus: `authorization: { credentials: … }` in the scrape config). One
// listener keeps one port to open and one guard to reason about; the scrape costs a few milliseconds (bench:
// scripts/bench/metrics), which the event loop can spare beside the media, which runs on the plane thread.

import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { adminGuard } from './admin-guard.js';

export function registerMetrics(app: FastifyInstance, registry: Registry, adminToken: string): void {
  app.get('/metrics', { onRequest: adminGuard(adminToken) }, async (_req, reply) => {
    const body = await registry.metrics();
    return reply.type(registry.contentType).send(body);
  });
}
