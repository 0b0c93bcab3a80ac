// Room status: GET /api/rooms lists rooms; GET /api/rooms/{sdkAppId}/{roomId} shows one with its users.

import type { FastifyInstance } from 'fastify';
import type { Rooms } from '../room/rooms.js';
import { adminGuard } from './admin-guard.js';

export function registerRoomRoutes(app: FastifyInstance, rooms: Rooms, adminToken: string): void {
  const onRequest = adminGuard(adminToken);
  app.get('/api/rooms', { onRequest }, async () => ({
    rooms: rooms.list().map((r) => ({ sdkAppId: r.sdkAppId, roomId: r.roomId, users: r.publishers.size })),
  }));
  app.get<{ Params: { sdkAppId: string; roomId: string } }>(
    '/api/rooms/:sdkAppId/:roomId',
    { onRequest },
    async (req, reply) => {
      const room = rooms.get(Number(req.params.sdkAppId), req.params.roomId);
      if (!room) {
        return reply
          .code(404)
          .send({ error: `room '${req.params.roomId}' of sdkappid ${req.params.sdkAppId} does not exist (no users in it)` });
      }
      return rooms.status(room);
    },
  );
}
