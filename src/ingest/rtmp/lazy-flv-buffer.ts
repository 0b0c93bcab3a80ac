// node-media-server's Rtmp constructor makes an FLV parser (`this.flv = new Flv()`) that allocates a zero-filled
// 1 MiB tag buffer up front. We never use that parser (GuardedRtmp takes the messages before its FLV step), yet every
// accepted socket paid for it. Measured with scripts/bench/idle-connections (docs/reliability.md): 0.8–0.9 ms of
// gateway CPU per accept against 0.2 ms without it (V8 counts the buffer as external memory and collects garbage to
// match), and twice the RSS per idle connection; on a gateway that had already taken a few floods, 1.8 ms and
// ~97 KiB per connection, and 4 s instead of 0.3 s to shed 1,000 of them.
//
// Flv grows that buffer on demand (parserTagAlloc runs before every copy into it), so starting it empty is safe for
// any Flv: the constructor's first assignment of parserTagCapacity is read as 0, later ones (growth) are kept.
// Importing this module applies it once, before any connection is made. node-media-server 4.4.3 (package pinned).

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Flv = require('node-media-server/src/protocol/flv.js') as { prototype: object };
const capacity = Symbol('parserTagCapacity');

type WithCapacity = { [capacity]?: number };

if (!Object.getOwnPropertyDescriptor(Flv.prototype, 'parserTagCapacity')) {
  Object.defineProperty(Flv.prototype, 'parserTagCapacity', {
    get(this: WithCapacity): number {
      return this[capacity] ?? 0;
    },
    set(this: WithCapacity, bytes: number) {
      this[capacity] = this[capacity] === undefined ? 0 : bytes; // the first set is the constructor's 1 MiB
    },
  });
}
