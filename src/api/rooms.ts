// Room status: GET /api/rooms lists rooms; GET /api/rooms/{sdkAppId}/{roomId}[?type=integer] shows one with its users
// (a string room unless type=integer: TRTC's integer room 1234 and string room "1234" are two rooms).
//
// With many nodes, GET /api/rooms lists the cluster's rooms from the census (src/store/redis-census.ts), so any node
// lists a room whose users are all on other nodes: `users` counts the publishing sessions, `audience` the viewing
// ones, across nodes. The one-room view shows this node's part of the room (its media and frame counts live here).

import type { FastifyInstance } from 'fastify';
import type { Rooms } from '../room/rooms.js';
import { adminGuard } from './admin-guard.js';

/** The cluster's rooms, as the census counts them (store.kind 'redis' with a cluster). */
export type ClusterRoomList = () => Promise<Array<{ sdkAppId: number; roomId: string; numericRoom: boolean; anchors: number; audience: number }>>;

export function registerRoomRoutes(app: FastifyInstance, rooms: Rooms, adminToken: string, clusterRooms?: ClusterRoomList): void {
  const onRequest = adminGuard(adminToken);
  app.get('/api/rooms', { onRequest }, async (_req, reply) => {
    if (!clusterRooms) {
      return {
        rooms: rooms.list().map((r) => ({
          sdkAppId: r.sdkAppId,
          roomId: r.roomId,
          type: r.numericRoom ? 'integer' : 'string',
          users: r.publishers.size,
          audience: r.audience.size,
        })),
      };
    }
    let listed;
    try {
      listed = await clusterRooms();
    } catch (err) {
      return reply.code(503).send({ error: `the cluster's rooms cannot be listed now: ${(err as Error).message}` });
    }
    return {
      rooms: listed.map((r) => ({
        sdkAppId: r.sdkAppId,
        roomId: r.roomId,
        type: r.numericRoom ? 'integer' : 'string',
        users: r.anchors,
        audience: r.audience,
      })),
    };
  });
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
