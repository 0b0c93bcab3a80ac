// A TRTC callback receiver for tests: records every POST with its arrival time, verifies the Sign header, and can
// be taken down (answers 503, or refuses connections) and brought back up on the same port.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyCallbackSign } from '../../src/auth/callback-sign.js';

export interface ReceivedCallback {
  at: number;
  body: any;
  raw: string;
  sign: string | undefined;
  sdkAppId: string | undefined;
  contentType: string | undefined;
  signOk: boolean;
}

export interface CallbackReceiver {
  url: string;
  /** Every delivered callback (answered 200), in arrival order. */
  received: ReceivedCallback[];
  /** Every attempt, including the refused ones while 'failing'. */
  attempts: ReceivedCallback[];
  /** 'up' answers 200; 'failing' answers 503; 'down' refuses connections. */
  setMode(mode: 'up' | 'failing' | 'down'): Promise<void>;
  /** Delivered events of one type (701/702/101…), optionally for one task. */
  events(type?: number, taskId?: string): any[];
  close(): Promise<void>;
}

export async function startCallbackReceiver(key: string): Promise<CallbackReceiver> {
  const received: ReceivedCallback[] = [];
  const attempts: ReceivedCallback[] = [];
  let mode: 'up' | 'failing' | 'down' = 'up';
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const sign = req.headers.sign as string | undefined;
      let body: unknown = null;
      try {
        body = JSON.parse(raw);
      } catch {
        // kept raw
      }
      const rec: ReceivedCallback = {
        at: Date.now(),
        body,
        raw,
        sign,
        sdkAppId: req.headers.sdkappid as string | undefined,
        contentType: req.headers['content-type'],
        signOk: sign !== undefined && verifyCallbackSign(key, raw, sign),
      };
      attempts.push(rec);
      if (mode !== 'up') {
        res.writeHead(503).end();
        return;
      }
      received.push(rec);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"code":0}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const listening = () => server.listening;
  return {
    url: `http://127.0.0.1:${port}/trtc/callback`,
    received,
    attempts,
    async setMode(m) {
      if (m === 'down' && listening()) {
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      } else if (m !== 'down' && !listening()) {
        await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
      }
      mode = m;
    },
    events(type, taskId) {
      return received
        .map((r) => r.body)
        .filter((b) => (type === undefined || b?.EventType === type) && (taskId === undefined || b?.EventInfo?.TaskId === taskId));
    },
    async close() {
      server.closeAllConnections();
      if (listening()) await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
