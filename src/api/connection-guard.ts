// Keeps hostile or broken HTTP clients from holding sockets: a cap on open connections per remote address, and
// counting (for GET /api/limits) of the connections that Node's deadlines cut off. The deadlines themselves are
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

/** At most one log line per this interval about refused connections, however many a flood brings. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

export function guardConnections(
  server: Server,
  opts: { maxConnectionsPerAddress: number },
  counters: RefusalCounters,
  log: Logger,
): void {
  const perAddress = new Map<string, number>();
  let refusedSinceLog = 0;
  let lastLogAt = -Infinity;

  server.on('connection', (socket: Socket) => {
    const addr = socket.remoteAddress;
    if (addr === undefined) {
      socket.destroy(); // already gone
      return;
    }
    const open = perAddress.get(addr) ?? 0;
    if (open >= opts.maxConnectionsPerAddress) {
      socket.destroy();
      counters.inc('http.perAddressLimit');
      refusedSinceLog++;
      const now = Date.now();
      if (now - lastLogAt >= REFUSAL_LOG_INTERVAL_MS) {
        log.warn(
          { remote: addr, max: opts.maxConnectionsPerAddress, refused: refusedSinceLog },
          'refusing HTTP connections: too many open from one address (http.maxConnectionsPerAddress)',
        );
        lastLogAt = now;
        refusedSinceLog = 0;
      }
      return;
    }
    perAddress.set(addr, open + 1);
    socket.once('close', () => {
      const n = (perAddress.get(addr) ?? 1) - 1;
      if (n > 0) perAddress.set(addr, n);
      else perAddress.delete(addr);
    });
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
