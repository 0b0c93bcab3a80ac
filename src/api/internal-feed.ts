// GET /internal/feed/{sdkAppId}/{roomId}/{userId}[?type=integer]: a publisher of this node, as MPEG-TS, for a mix
// running on another node (the link is src/mix/feed-link.ts). Only nodes of the cluster may ask: the request
// carries the cluster's link key (kept in Redis). A publisher whose codec configs are not known yet is waited for,
// briefly, so the feed starts with every kind it will carry.
//
// A feed's connection carries that one request: its answer never ends, so a peer that sends another request on it
// is broken or hostile (another feed would add a second tap writing into the same socket, any other request would
// wait forever behind the feed). Such a connection is closed, its feed with it. Junk after the request is Node's
// parser's to refuse (400, and the connection closed, the feed with it).

import type { FastifyInstance } from 'fastify';
import type { Socket } from 'node:net';
import type { Rooms } from '../room/rooms.js';
import type { Publisher } from '../room/publisher.js';
import type { Logger } from '../log.js';
import { keyMatches, LINK_KEY_HEADER, serveFeed } from '../mix/feed-link.js';

/** How long a publisher that has one kind of media waits for its other config (as a local mix's mergeWaitMs). */
const MEDIA_WAIT_MS = 1500;

/** The cluster's link key; `fresh` reads it again from the store (another node may have made a new one). */
export type LinkKey = (fresh?: boolean) => Promise<string>;

const FEED_ROUTE = '/internal/feed/:sdkAppId/:roomId/:userId';

export function registerInternalFeed(app: FastifyInstance, rooms: Rooms, linkKey: LinkKey, log: Logger): void {
  /** Connections with a feed request on them: being answered, or answered with the feed. */
  const feeding = new WeakSet<Socket>();
  app.addHook('onRequest', (req, reply, done) => {
    const socket = req.raw.socket;
    if (feeding.has(socket)) {
      log.warn({ to: `${socket.remoteAddress}:${socket.remotePort}`, url: req.url.slice(0, 200) }, "a peer sent another request on a feed's connection: the connection is closed");
      reply.hijack();
      socket.destroy();
      return;
    }
    if (req.routeOptions.url === FEED_ROUTE) {
      feeding.add(socket);
      // answered with a status (403, 404, 409, 500): a kept-alive connection may carry the next request
      reply.raw.once('finish', () => feeding.delete(socket));
    }
    done();
  });
  app.get<{ Params: { sdkAppId: string; roomId: string; userId: string }; Querystring: { type?: string } }>(
    FEED_ROUTE,
    async (req, reply) => {
      const given = req.headers[LINK_KEY_HEADER];
      if (!keyMatches(given, await linkKey()) && !keyMatches(given, await linkKey(true))) return reply.code(403).send({ error: 'this is a link between nodes of one cluster: the link key is missing or wrong' });
      const room = { sdkAppId: Number(req.params.sdkAppId), roomId: req.params.roomId, numericRoom: req.query.type === 'integer' };
      const find = (): Publisher | undefined => rooms.publishersOf(room).find((p) => p.id.userId === req.params.userId);
      let p = find();
      const until = Date.now() + MEDIA_WAIT_MS;
      while (p && !(p.video && p.audio) && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 50));
        p = find();
      }
      if (!p || p.ended) return reply.code(404).send({ error: `${req.params.userId} does not publish in that room on this node` });
      const publisher = p;
      reply.hijack();
      const socket = req.raw.socket;
      const why = serveFeed(publisher, socket, (left) =>
        rooms.watch(room, { publisherJoined() {}, publisherMedia() {}, publisherLeft: (q) => q === publisher && left() }),
      );
      if (why) {
        reply.raw.writeHead(409, { 'content-type': 'application/json' }).end(JSON.stringify({ error: why }));
        return;
      }
      const at = { room: room.roomId, userId: publisher.id.userId, to: `${socket.remoteAddress}:${socket.remotePort}` };
      log.info(at, 'a node takes this publisher into its mix');
      socket.once('close', () => log.info(at, 'a node stopped taking this publisher'));
    },
  );
}
