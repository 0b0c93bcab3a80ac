// GET /recordings/<TaskId>/<file>: the files of recordings kept in the local directory ("StorageParams": {}), for
// playback and download, behind the admin guard. Byte ranges are served, because a browser's <video> seeks an MP4
// with them. Names are checked before any path is built: no separators, no "..", only the characters TaskIds and
// TRTC's file names use.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import { adminGuard } from './admin-guard.js';

const SAFE = /^[A-Za-z0-9_.+-]{1,200}$/;
const TYPES: Record<string, string> = {
  m3u8: 'application/vnd.apple.mpegurl',
  ts: 'video/mp2t',
  mp4: 'video/mp4',
  aac: 'audio/aac',
};

/**
 * `at` serves the same files under another path with another guard: the console's links (`/console/recordings`,
 * behind its token cookie, which a browser sends only under /console).
 */
export function registerRecordingFiles(
  app: FastifyInstance,
  dir: string,
  adminToken: string,
  at: { prefix: string; onRequest: onRequestHookHandler } = { prefix: '/recordings', onRequest: adminGuard(adminToken) },
): void {
  app.get<{ Params: { taskId: string; file: string } }>(
    `${at.prefix}/:taskId/:file`,
    { onRequest: at.onRequest },
    async (req, reply) => {
      const { taskId, file } = req.params;
      const ext = file.slice(file.lastIndexOf('.') + 1);
      if (!SAFE.test(taskId) || !SAFE.test(file) || taskId.startsWith('.') || file.startsWith('.') || !TYPES[ext]) {
        return reply.code(400).send({ error: 'name a recording file: /recordings/<TaskId>/<file>.{m3u8,ts,mp4,aac}' });
      }
      const path = join(dir, taskId, file);
      const st = await stat(path).catch(() => null);
      if (!st?.isFile()) return reply.code(404).send({ error: `no file ${file} in recording ${taskId} (uploaded files live in their storage)` });
      void reply.header('content-type', TYPES[ext]).header('accept-ranges', 'bytes').header('cache-control', 'no-cache');
      const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
      if (!range || (range[1] === '' && range[2] === '')) return reply.header('content-length', st.size).send(createReadStream(path));
      let start = range[1] === '' ? Math.max(0, st.size - Number(range[2])) : Number(range[1]);
      let end = range[1] === '' || range[2] === '' ? st.size - 1 : Math.min(Number(range[2]), st.size - 1);
      if (start > end || start >= st.size) {
        return reply.code(416).header('content-range', `bytes */${st.size}`).send();
      }
      start = Math.max(0, start);
      end = Math.max(start, end);
      return reply
        .code(206)
        .header('content-range', `bytes ${start}-${end}/${st.size}`)
        .header('content-length', end - start + 1)
        .send(createReadStream(path, { start, end }));
    },
  );
}
