// The RTMP listener: admits sockets within the global and per-address limits (connection-gate.ts) and gives each
// its own RtmpConnection.

import { createServer, type Server } from 'node:net';
import type { Logger } from '../../log.js';
import { RtmpConnection, type RtmpConnectionDeps } from './connection.js';
import { RefusalMemory } from './refusal-memory.js';
import { ConnectionGate, normalizeAddress } from '../../net/connection-gate.js';

export interface RtmpServerOptions extends Omit<RtmpConnectionDeps, 'refusals'> {
  host: string;
  port: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
}

export class RtmpServer {
  private readonly server: Server;
  private readonly connections = new Set<RtmpConnection>();
  private readonly log: Logger;
  private readonly refusals = new RefusalMemory();
  private readonly gate: ConnectionGate;

  constructor(private readonly opts: RtmpServerOptions) {
    this.log = opts.log.child({ component: 'rtmp' });
    this.gate = new ConnectionGate({ ...opts, name: 'rtmp', log: this.log });
    // Paused until RtmpConnection starts reading: it switches the socket to a reused read buffer first.
    this.server = createServer({ pauseOnConnect: true }, (socket) => {
      const address = normalizeAddress(socket.remoteAddress);
      if (!this.gate.admit(address)) {
        socket.destroy();
        return;
      }
      const conn = new RtmpConnection(socket, { ...opts, log: this.log, refusals: this.refusals }, (c) => {
        this.connections.delete(c);
        this.gate.release(address);
      });
      this.connections.add(conn);
    });
  }

  async listen(): Promise<{ host: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const addr = this.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : this.opts.port;
    this.log.info({ host: this.opts.host, port }, 'RTMP listening');
    return { host: this.opts.host, port };
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Stops accepting, tells every publisher why, and waits (briefly) for sockets to close. */
  async close(reason: string): Promise<void> {
    this.server.close();
    for (const c of this.connections) c.kick(reason);
    const deadline = Date.now() + 3500;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }
}
