// Room status: GET /api/rooms lists rooms; GET /api/rooms/{sdkAppId}/{roomId}[?type=integer] shows one with its users
// (a string room unless type=integer: TRTC's integer room 1234 and string room "1234" are two rooms).

import type { FastifyInstance } from 'fastify';
import type { Rooms } from '../room/rooms.js';
import { adminGuard } from './admin-guard.js';

export function registerRoomRoutes(app: FastifyInstance, rooms: Rooms, adminToken: string): void {
  const onRequest = adminGuard(adminToken);
  app.get('/api/rooms', { onRequest }, async () => ({
    rooms: rooms.list().map((r) => ({
      sdkAppId: r.sdkAppId,
      roomId: r.roomId,
      type: r.numericRoom ? 'integer' : 'string',
      users: r.publishers.size,
      audience: r.audience.size,
    })),
  }));
  app.get<{ Params: { sdkAppId: string; roomId: string }; Querystring: { type?: string } }>(
    '/api/rooms/:sdkAppId/:roomId',
    { onRequest },
    async (req, reply) => {
      const type = req.query.type ?? 'string';
      if (type !== 'string' && type !== 'integer') {
        return reply.code(400).send({ error: `type must be 'string' (the default) or 'integer'; got '${type.slice(0, 32)}'` });
      }
      const room = rooms.get(Number(req.params.sdkAppId), req.params.roomId, type === 'integer');
      if (!room) {
        return reply
          .code(404)
          .send({ error: `${type} room '${req.params.roomId}' of sdkappid ${req.params.sdkAppId} does not exist (nobody is in it)` });
      }
      return rooms.status(room);
    },
  );
}
