// Status of pull tasks and callback delivery: GET /api/tasks (running tasks with their state, plan and last error,
// then recently ended ones), GET /api/callbacks (outbox counters) and GET /api/limits (what was refused or cut off,
// by kind and reason). Admin-guarded like /api/rooms.

import type { FastifyInstance } from 'fastify';
import { adminGuard } from './admin-guard.js';

export interface TaskStatusSource {
  list(): Promise<{ running: unknown[]; ended: unknown[] }>;
}

export interface CallbackStatusSource {
  stats(): { queued: number; delivered: number; failedAttempts: number; dropped: number };
}

export interface LimitStatusSource {
  snapshot(): Record<string, number | Record<string, number>>;
}

export function registerTaskRoutes(
  app: FastifyInstance,
  tasks: TaskStatusSource,
  callbacks: CallbackStatusSource,
  limits: LimitStatusSource,
  adminToken: string,
): void {
  const onRequest = adminGuard(adminToken);
  app.get('/api/tasks', { onRequest }, async () => tasks.list());
  app.get('/api/callbacks', { onRequest }, async () => callbacks.stats());
  app.get('/api/limits', { onRequest }, async () => limits.snapshot());
}
