// GET /api/cluster (admin guard): with many nodes sharing one Redis, the nodes holding a lease and every room's
// users across them, as any node sees it. 404 on a node without a cluster (store.kind other than redis).

import type { FastifyInstance } from 'fastify';
import { adminGuard } from './admin-guard.js';
import { clusterSnapshot, type ClusterView } from './console-snapshot.js';

export function registerClusterRoutes(app: FastifyInstance, cluster: ClusterView | undefined, adminToken: string): void {
  app.get('/api/cluster', { onRequest: adminGuard(adminToken) }, async (_req, reply) => {
    if (!cluster) return reply.code(404).send({ error: 'this gateway runs alone: set store.kind to "redis" to run many nodes' });
    return clusterSnapshot(cluster);
  });
}
