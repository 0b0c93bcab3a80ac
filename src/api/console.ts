// The operator's console (web/console/, preact + htm, no build step, nothing loaded from elsewhere):
//   GET  /console[?token=…]               the page; with ?token= it sets the console's cookie
//   GET  /console/assets/{file}           its script and style, and preact, preact/hooks and htm from node_modules
//   GET  /console/events                  Server-Sent Events: one snapshot a second (console-snapshot.ts), shared by
//                                         every open console, built only while one is open
//   POST /console/action                  {action, params}: an API 3.0 action by name, through the same action table
//                                         as POST / (tencent-api.ts), limited to the ones that act on sessions
//   GET  /console/preview/{app}/{room}    a WHEP URL and a viewer UserSig for a publisher's preview tile
// All behind consoleGuard (admin.token).

import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from '../log.js';
import type { AppConfig } from '../config/schema.js';
import { repoPath } from '../paths.js';
import { genUserSig } from '../auth/usersig.js';
import { Api3Error } from './api3-envelope.js';
import type { ActionHandler } from './stream-ingest-actions.js';
import { CONSOLE_COOKIE, consoleGuard, presentedToken } from './console-guard.js';
import type { ConsoleSnapshot } from './console-snapshot.js';

/** What the console may do: remove, dismiss, mute/unmute, stop a pull task, a recording or a relay. */
export const CONSOLE_ACTIONS = new Set([
  'RemoveUser', 'RemoveUserByStrRoomId', 'DismissRoom', 'DismissRoomByStrRoomId', 'SetUserBlocked', 'SetUserBlockedByStrRoomId',
  'StopStreamIngest', 'DeleteCloudRecording', 'StopPublishCdnStream',
]);

const FILES: Record<string, { path: string; type: string }> = {
  'console.js': { path: 'web/console/console.js', type: 'text/javascript; charset=utf-8' },
  'console.css': { path: 'web/console/console.css', type: 'text/css; charset=utf-8' },
  'preact.js': { path: 'node_modules/preact/dist/preact.module.js', type: 'text/javascript; charset=utf-8' },
  'hooks.js': { path: 'node_modules/preact/hooks/dist/hooks.module.js', type: 'text/javascript; charset=utf-8' },
  'htm.js': { path: 'node_modules/htm/dist/htm.module.js', type: 'text/javascript; charset=utf-8' },
};

const PAGE_HEADERS = {
  'Cache-Control': 'no-store',
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; media-src 'self' blob:; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

const SNAPSHOT_MS = 1000;

export interface ConsoleDeps {
  snapshot: ConsoleSnapshot;
  actions: Record<string, ActionHandler>;
  apps: readonly AppConfig[];
  adminToken: string;
  log: Logger;
}

function loadFiles(log: Logger): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const [name, f] of Object.entries({ ...FILES, 'index.html': { path: 'web/console/index.html', type: '' } })) {
    try {
      let body = readFileSync(repoPath(f.path));
      // preact/hooks imports "preact" by its bare name, which a browser cannot resolve without an import map (an
      // inline script the page's CSP would have to allow): it is pointed at the file served beside it instead
      if (name === 'hooks.js') body = Buffer.from(body.toString('utf8').replaceAll('from"preact"', 'from"./preact.js"'));
      files.set(name, body);
    } catch (err) {
      // a missing page must not stop the media gateway; /console then says what is missing
      log.warn({ err, file: f.path }, 'console file missing: /console will answer 503');
    }
  }
  return files;
}

export function registerConsole(app: FastifyInstance, d: ConsoleDeps): void {
  const files = loadFiles(d.log);
  const onRequest = consoleGuard(d.adminToken);
  const missing = (reply: FastifyReply, name: string) =>
    reply.code(503).send({ error: `the console's ${name} is missing from this installation; reinstall roomgate` });

  app.get('/console', { onRequest }, async (req, reply) => {
    const page = files.get('index.html');
    if (!page) return missing(reply, 'page');
    const token = presentedToken(req);
    // the page's own requests (events, actions) carry the token as a cookie, never in a URL
    if (token && d.adminToken) {
      void reply.header('Set-Cookie', `${CONSOLE_COOKIE}=${encodeURIComponent(token)}; Path=/console; HttpOnly; SameSite=Strict`);
    }
    return reply.headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(page);
  });

  app.get<{ Params: { file: string } }>('/console/assets/:file', { onRequest }, async (req, reply) => {
    const f = Object.hasOwn(FILES, req.params.file) ? FILES[req.params.file] : undefined;
    if (!f) return reply.code(404).send({ error: 'no such console file' });
    const body = files.get(req.params.file);
    if (!body) return missing(reply, req.params.file);
    return reply.header('Cache-Control', 'no-cache').type(f.type).send(body);
  });

  // One snapshot a second for every open console, built only while one is open.
  const clients = new Set<NodeJS.WritableStream>();
  let timer: NodeJS.Timeout | null = null;
  const broadcast = async () => {
    try {
      const line = `data: ${JSON.stringify(await d.snapshot.build())}\n\n`;
      for (const c of clients) c.write(line);
    } catch (err) {
      d.log.error({ err }, 'console snapshot failed');
    }
  };
  app.get('/console/events', { onRequest }, async (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    // HTTP deadlines (requestTimeout, idle) are for requests, not for a stream an operator keeps open
    req.raw.socket.setTimeout(0);
    clients.add(res);
    timer ??= setInterval(() => void broadcast(), SNAPSHOT_MS);
    void broadcast();
    req.raw.on('close', () => {
      clients.delete(res);
      if (clients.size === 0 && timer) {
        clearInterval(timer);
        timer = null;
      }
    });
  });
  // before the server waits for its connections to end: an open console must not hold a shutdown
  app.addHook('preClose', async () => {
    if (timer) clearInterval(timer);
    for (const c of clients) c.end();
  });

  app.post<{ Body: { action?: unknown; params?: unknown } }>('/console/action', { onRequest }, async (req, reply) => {
    const { action, params } = req.body ?? {};
    if (typeof action !== 'string' || !CONSOLE_ACTIONS.has(action)) {
      return reply.code(400).send({ code: 'InvalidAction', message: `the console can run ${[...CONSOLE_ACTIONS].join(', ')}` });
    }
    if (typeof params !== 'object' || params === null || Array.isArray(params)) {
      return reply.code(400).send({ code: 'InvalidParameter', message: 'params must be an object of the action\'s API 3.0 parameters' });
    }
    try {
      await d.actions[action]!(params as Record<string, unknown>);
      d.log.info({ action, params }, 'console action');
      return { ok: true };
    } catch (err) {
      if (!(err instanceof Api3Error)) throw err;
      return reply.code(400).send({ code: err.code, message: err.message });
    }
  });

  // A preview viewer's credential: a UserSig the gateway makes with the app's key for a console-only userid.
  app.get<{ Params: { sdkAppId: string; roomId: string }; Querystring: { user?: string } }>(
    '/console/preview/:sdkAppId/:roomId',
    { onRequest },
    async (req, reply) => {
      const sdkAppId = Number(req.params.sdkAppId);
      const a = d.apps.find((x) => x.sdkAppId === sdkAppId);
      if (!a) return reply.code(404).send({ error: `unknown sdkappid ${req.params.sdkAppId}` });
      if (a.requirePrivateMapKey) return reply.code(409).send({ error: 'this app requires a PrivateMapKey: no preview from the console' });
      const userId = `console_${randomBytes(4).toString('hex')}`;
      const user = req.query.user ? `&Publisher=${encodeURIComponent(req.query.user)}` : '';
      return {
        url: `/v2/sub/${sdkAppId}/${encodeURIComponent(req.params.roomId)}?SessionID=${userId}${user}`,
        token: genUserSig({ sdkAppId, secretKey: a.secretKey, userId, expireSeconds: 3600 }),
      };
    },
  );
}
