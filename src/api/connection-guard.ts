// Keeps hostile or broken HTTP clients from holding sockets: a cap on open connections per remote address (the same
// gate as RTMP's, src/net/connection-gate.ts), and counting (for GET /api/limits) of the connections that Node's
// deadlines cut off. The deadlines themselves are
// Node's (set in server.ts); this file only sees their effects, through public events:
//   - 'clientError' ERR_HTTP_REQUEST_TIMEOUT: headers (headersTimeout) or the whole request (requestTimeout) too slow;
//     Fastify's own clientError handler answers it 408 and closes the socket.
//   - the server's 'timeout': the socket was silent for idleTimeoutMs (server.timeout) — or a kept-alive socket
//     reached its keep-alive deadline, which Node also signals this way. Listening to it means Node no longer
//     destroys the socket itself, so this does.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../log.js';
import type { RefusalCounters } from '../events/refusal-counters.js';
import { ConnectionGate, normalizeAddress } from '../net/connection-gate.js';

export function guardConnections(
  server: Server,
  opts: { maxConnectionsPerAddress: number },
  counters: RefusalCounters,
  log: Logger,
): void {
  const gate = new ConnectionGate({ name: 'http', maxConnections: Infinity, maxConnectionsPerAddress: opts.maxConnectionsPerAddress, counters, log });
  server.on('connection', (socket: Socket) => {
    if (socket.remoteAddress === undefined) {
      socket.destroy(); // already gone
      return;
    }
    const address = normalizeAddress(socket.remoteAddress);
    if (!gate.admit(address)) {
      socket.destroy();
      return;
    }
    socket.once('close', () => gate.release(address));
  });

  // The last request seen on each socket tells a slow body (request seen, not complete) from slow headers, and a
  // kept-alive socket's expiry (everything answered) from a stall.
  const lastExchange = new WeakMap<Socket, { req: IncomingMessage; res: ServerResponse }>();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => lastExchange.set(req.socket, { req, res }));

  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code !== 'ERR_HTTP_REQUEST_TIMEOUT') return;
    const last = lastExchange.get(socket);
    counters.inc(last && !last.req.complete ? 'http.requestTimeout' : 'http.headersTimeout');
  });

  server.on('timeout', (socket: Socket) => {
    const last = lastExchange.get(socket);
    const keptAlive = last !== undefined && last.req.complete && last.res.writableFinished;
    if (!keptAlive) counters.inc('http.idleTimeout');
    socket.destroy();
  });
}
