// Reader process of scripts/bench/mix-link's cost part: does with each feed what a mixing node does with a publisher
// on another node, with the gateway's own code (dist/src/mix/feed-link.js): openFeed sends the GET, and its
// RemotePublisher writes every chunk of the body into a FIFO (writeSync on a non-blocking fd, paused on EAGAIN), as
// into a compositor input. The FIFOs' reading ends are `cat` processes of the bench standing in for the compositor,
// so this process's CPU is the mixing side's share of a link: HTTP parsing and the copy, nothing per frame.
// Driven over the IPC channel of child_process.fork:
//
//   ← { type: 'start', root, deadlineMs }                          → { type: 'ready' }
//   ← { type: 'open', key, feeds: [{ baseUrl, path, userId, fifo }] }
//   → { type: 'opened', n } | { type: 'failed', message }
//   ← { type: 'close' }  → { type: 'closed', endedEarly }   (feeds that had ended by themselves before the close)

import { closeSync, constants, openSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The FIFO's writing end, non-blocking as the compositor's inputs are; waits (bounded) for its `cat` to open it. */
async function openFifo(path) {
  for (let i = 0; ; i++) {
    try {
      return openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (e) {
      if (e.code !== 'ENXIO' || i >= 250) throw e; // ENXIO: nobody has the reading end open yet
      await sleep(20);
    }
  }
}

async function main() {
  const start = await new Promise((res) => process.once('message', res));
  if (start?.type !== 'start') process.exit(2);
  setTimeout(() => process.exit(3), start.deadlineMs).unref();
  process.on('disconnect', () => process.exit(0));
  const { openFeed } = await import(pathToFileURL(join(start.root, 'dist/src/mix/feed-link.js')).href);

  let open = []; // { publisher, fd, ended }
  process.on('message', async (msg) => {
    if (msg?.type === 'open') {
      try {
        const got = await Promise.all(msg.feeds.map(async (f) => {
          const fd = await openFifo(f.fifo);
          const p = await openFeed(f.baseUrl, f.path, f.userId, msg.key);
          if (typeof p === 'string') {
            closeSync(fd);
            throw new Error(`${f.userId}: ${p}`);
          }
          const link = { publisher: p, fd, ended: false };
          p.onEnded = () => (link.ended = true);
          p.link(fd);
          return link;
        }));
        open.push(...got);
        process.send({ type: 'opened', n: got.length });
      } catch (e) {
        process.send({ type: 'failed', message: e.message });
      }
    } else if (msg?.type === 'close') {
      const endedEarly = open.filter((l) => l.ended).length;
      for (const l of open) {
        l.publisher.close();
        closeSync(l.fd);
      }
      open = [];
      process.send({ type: 'closed', endedEarly });
    }
  });
  process.send({ type: 'ready' });
}

if (process.send) await main();
