// The browser play page and the one API it needs besides WHEP:
//   GET /v2/room/{SdkAppId}/{RoomId}/publishers?SessionID={viewer}  (Bearer like WHEP, action subscribe)
//   GET /play/{SdkAppId}/{RoomId}                                   the page (web/play/index.html)
//   GET /play/assets/{play.js|play.css}                             its script and style
// The page files are read once at start; the page has no build step and loads nothing from elsewhere.

import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Rooms } from '../room/rooms.js';
import type { Logger } from '../log.js';
import { repoPath } from '../paths.js';
import { bearerToken } from './bearer.js';
import { refuse, registerPreflight, withCors } from './cors.js';

export interface PlayDeps {
  rooms: Rooms;
  log: Logger;
}

const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'play.js': 'text/javascript; charset=utf-8',
  'play.css': 'text/css; charset=utf-8',
};

// The token travels in the page URL, so the page never sends a Referer; it may only talk to this origin.
const PAGE_HEADERS = {
  'Cache-Control': 'no-cache',
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; media-src 'self' blob:; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

function loadAssets(log: Logger): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const name of Object.keys(ASSETS)) {
    try {
      files.set(name, readFileSync(repoPath(`web/play/${name}`)));
    } catch (err) {
      // A missing page must not stop the media gateway; /play then says what is missing.
      log.warn({ err, file: `web/play/${name}` }, 'play page file missing: /play will answer 503');
    }
  }
  return files;
}

export function registerPlay(app: FastifyInstance, deps: PlayDeps): void {
  registerPreflight(app, '/v2/room');

  app.get<{ Params: { sdkAppId: string; roomId: string }; Querystring: Record<string, string> }>(
    '/v2/room/:sdkAppId/:roomId/publishers',
    async (req, reply) => {
      const sdkAppId = Number(req.params.sdkAppId);
      const roomId = req.params.roomId;
      const auth = deps.rooms.door.enter({
        sdkAppId,
        userId: req.query.SessionID ?? '',
        roomId,
        credential: { kind: 'bearer', value: bearerToken(req) },
        action: 'subscribe',
      });
      if (!auth.ok) return refuse(reply, auth.status, auth.reason);
      const room = deps.rooms.get(sdkAppId, roomId);
      const users = room ? deps.rooms.status(room).users : [];
      const publishers = users.map(({ userId, source, video, audio, since }) => ({ userId, source, video, audio, since }));
      return withCors(reply).header('Cache-Control', 'no-store').send({ publishers });
    },
  );

  const files = loadAssets(deps.log);
  const sendAsset = (reply: FastifyReply, name: string): FastifyReply => {
    const body = files.get(name);
    if (!body) return reply.code(503).type('text/plain; charset=utf-8').send(`the play page is not installed (web/play/${name} is missing)\n`);
    return reply.headers(PAGE_HEADERS).type(ASSETS[name]!).send(body);
  };

  // The static "assets" segment wins over :sdkAppId in fastify's router (an SdkAppId is numeric anyway).
  app.get<{ Params: { file: string } }>('/play/assets/:file', async (req, reply) => {
    const name = req.params.file;
    if (name === 'index.html' || !Object.hasOwn(ASSETS, name)) return reply.code(404).type('text/plain; charset=utf-8').send('no such file\n');
    return sendAsset(reply, name);
  });
  app.get('/play/:sdkAppId/:roomId', async (_req, reply) => sendAsset(reply, 'index.html'));
}
