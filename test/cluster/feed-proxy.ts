// A broken owner of the internal feed link, for test/cluster/cross-node-tasks.test.ts: a TCP proxy a real node
// advertises as its address (node.httpUrl), passing everything through to that node, until `junk` is set: then a
// feed's answer (GET /internal/feed/…) keeps the node's real head (200, its kinds) and the body is replaced by random
// bytes with no MPEG-TS sync byte in them, at about a stream's rate, for as long as the reader reads. Requests other
// than feeds always pass, so the node stays a good member of the cluster for everything else.

import { connect, createServer, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';

export interface FeedProxy {
  /** http://127.0.0.1:<port>: the node's node.httpUrl. */
  url: string;
  /** Where the node listens (set once it is up: its port is chosen by the system). */
  target: { host: string; port: number } | null;
  /** Feeds answered from now on get random bytes for a body. */
  junk: boolean;
  /** Feeds answered with random bytes so far. */
  junkFeeds: number;
  /** Feeds passed through as the node answered them so far. */
  passedFeeds: number;
  close(): Promise<void>;
}

const FEED_REQUEST = /^GET \/internal\/feed\//;
/** 4 KiB every 20 ms: 200 KB/s, a stream's order of magnitude. */
const JUNK_CHUNK = 4096;
const JUNK_EVERY_MS = 20;

function junkChunk(): Buffer {
  const b = randomBytes(JUNK_CHUNK);
  for (let i = 0; i < b.length; i++) if (b[i] === 0x47) b[i] = 0x46; // never an MPEG-TS sync byte
  return b;
}

export async function startFeedProxy(): Promise<FeedProxy> {
  const sockets = new Set<Socket>();
  const proxy: FeedProxy = { url: '', target: null, junk: false, junkFeeds: 0, passedFeeds: 0, close: async () => {} };
  const server = createServer((client) => {
    sockets.add(client);
    client.on('error', () => {}); // a reset: 'close' follows
    client.once('close', () => sockets.delete(client));
    // the connection's first request decides (a feed, answered without end, is the last request of its connection)
    client.once('data', (first: Buffer) => {
      if (!proxy.target) return client.destroy();
      const upstream = connect(proxy.target.port, proxy.target.host);
      sockets.add(upstream);
      upstream.on('error', () => {});
      upstream.once('close', () => {
        sockets.delete(upstream);
        client.destroy();
      });
      client.once('close', () => upstream.destroy());
      upstream.write(first);
      client.pipe(upstream);
      const feed = FEED_REQUEST.test(first.toString('latin1', 0, 32));
      if (!(feed && proxy.junk)) {
        if (feed) proxy.passedFeeds++;
        return void upstream.pipe(client);
      }
      // the node's head, then junk instead of its body
      let head = Buffer.alloc(0);
      const onHead = (d: Buffer): void => {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        upstream.off('data', onHead);
        client.write(head.subarray(0, end + 4));
        if (!head.toString('latin1', 0, 16).includes(' 200 ')) return void client.end();
        upstream.on('data', () => {}); // the real body: read and dropped
        proxy.junkFeeds++;
        const timer = setInterval(() => client.write(junkChunk()), JUNK_EVERY_MS);
        client.once('close', () => clearInterval(timer));
      };
      upstream.on('data', onHead);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  proxy.url = `http://127.0.0.1:${port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return proxy;
}
