// The internal media link between nodes (issue 20): a mix (recording or relay) on one node takes a publisher that is
// on another. Both ends are here.
//
// The wire is one HTTP GET per publisher, answered with the publisher's media as MPEG-TS, for as long as it publishes:
// - The owner's side (serveFeed) is an fd-mode tap of the engine, the same a local mix input gets, writing onto the
//   request's TCP socket. It costs the owner one muxer and no JavaScript per frame, and a slow or stopped reader
//   costs it a bounded queue, then dropped frames up to the next keyframe (src/room/engine.ts, tap.h).
// - The mixing side (openFeed) copies the body into the compositor input's FIFO: the bytes a local tap would have
//   written there. A full FIFO pauses the response, and TCP carries the back-pressure to the owner's tap.
// MPEG-TS because it is the compositor's input format already, and a reader may start anywhere in it (tsdemux
// resynchronises). The request carries the cluster's link key: the feed is every publisher's media, for nodes only.
// When one side fails, the other goes on: the owner's death ends the body (the mix's input leaves; the census
// poll links the publisher again wherever it reconnects); the mixer's death closes the owner's socket (the tap goes
// with it); bytes the compositor cannot decode make it fail that input, and the mix closes the feed at once
// (src/record/mixed-recording.ts), tried again later and less often (src/cluster/remote-publishers.ts).

import { request, type IncomingMessage } from 'node:http';
import { writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { tcpSocketFd } from '../node-internals.js';
import type { Publisher } from '../room/publisher.js';
import type { Tap } from '../room/engine.js';

export const LINK_KEY_HEADER = 'x-roomgate-link-key';
const KINDS_HEADER = 'x-roomgate-kinds';

/** The path of a publisher's feed on its node. */
export function feedPath(room: { sdkAppId: number; roomId: string; numericRoom: boolean }, userId: string): string {
  const q = room.numericRoom ? '?type=integer' : '';
  return `/internal/feed/${room.sdkAppId}/${encodeURIComponent(room.roomId)}/${encodeURIComponent(userId)}${q}`;
}

export function keyMatches(given: unknown, key: string): boolean {
  if (typeof given !== 'string' || key === '') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Owner's side: answers on `socket` (taken from the HTTP server) with the publisher's media until it leaves or the
 * reader goes. `watchLeave` calls back once when the publisher leaves; it returns its own unwatch. Returns why not
 * ('' when serving).
 */
export function serveFeed(p: Publisher, socket: Socket, watchLeave: (left: () => void) => () => void): string {
  const audio = p.audio ? (p.audio.codec === 'AAC' ? 'aac' : 'opus') : '';
  const video = p.video !== null;
  if (!video && !audio) return 'the publisher has no media yet';
  const fd = tcpSocketFd(socket);
  if (fd < 0) return 'the connection has no file descriptor to hand to the engine';
  socket.setTimeout(0); // the tap writes, not Node: the server's idle deadline would see a silent socket
  socket.setNoDelay(true);
  let tap: Tap | null = null;
  let unwatch = (): void => {};
  const end = (): void => {
    unwatch();
    tap?.remove();
    tap = null;
    socket.destroy();
  };
  const head = ['HTTP/1.1 200 OK', 'Content-Type: video/mp2t', 'Cache-Control: no-store', 'Connection: close', `${KINDS_HEADER}: ${[video ? 'video' : '', audio].filter(Boolean).join(',')}`];
  // The head goes out through Node, whole, before the engine writes the first byte of the body on the same socket.
  socket.write(head.join('\r\n') + '\r\n\r\n', (err) => {
    if (err || socket.destroyed || p.ended) return end();
    try {
      tap = p.pipe.addTap({ fd, video, audio, format: 'mpegts' });
    } catch {
      return end();
    }
    if (!tap) return end();
    unwatch = watchLeave(end);
    p.requestKeyframe(); // a WHIP publisher's next keyframe now, so the remote tile fills at once
  });
  socket.once('close', end); // the reader went (or the node is closing): the tap goes with it
  return '';
}

/** A publisher on another node, its feed open: what a mix takes from it. */
export class RemotePublisher {
  readonly id: { userId: string };
  readonly since = new Date();
  readonly video: boolean;
  readonly audio: boolean;
  ended = false;
  /** Why the mix closed the feed, when its bytes could not be mixed (not MPEG-TS, nothing decodable); '' otherwise. */
  failure = '';
  /** The feed ended by itself (the publisher left, its node went) or was closed. */
  onEnded: () => void = () => {};
  private fd = -1;
  private retry: NodeJS.Timeout | null = null;

  constructor(
    userId: string,
    /** The node the publisher is on. */
    readonly node: string,
    private readonly res: IncomingMessage,
  ) {
    this.id = { userId };
    const kinds = String(res.headers[KINDS_HEADER] ?? '').split(',');
    this.video = kinds.includes('video');
    this.audio = kinds.some((k) => k === 'aac' || k === 'opus');
    res.pause(); // until link(): the socket's buffer, then TCP, hold what comes meanwhile
    res.on('data', (chunk: Buffer) => this.write(chunk));
    res.once('end', () => this.close());
    res.once('error', () => this.close());
    res.once('close', () => this.close());
  }

  /** Starts copying the feed into `fd` (a compositor input's FIFO, non-blocking); `remove()` stops it. */
  link(fd: number): { remove(): void } {
    this.fd = fd;
    if (!this.ended) this.res.resume();
    return { remove: () => this.close() };
  }

  /**
   * Ends the feed; no byte is written to the input's fd after this returns (its owner may close it at once).
   * `failure`: the mix could not use what came (see `failure`).
   */
  close(failure = ''): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = failure;
    this.fd = -1;
    if (this.retry) clearTimeout(this.retry);
    this.res.destroy();
    setImmediate(() => this.onEnded()); // never from inside the mix's own removal of this input
  }

  private write(chunk: Buffer): void {
    if (this.ended || this.fd < 0) return;
    let done = 0;
    try {
      while (done < chunk.length) done += writeSync(this.fd, chunk, done, chunk.length - done);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return this.close(); // EPIPE: the input was removed
      // The FIFO is full: hold the rest and the stream until it drains (the compositor reads in real time).
      this.res.pause();
      this.retry = setTimeout(() => {
        this.retry = null;
        this.res.resume();
        this.write(chunk.subarray(done));
      }, 10);
    }
  }
}

/**
 * Mixing side: opens a publisher's feed on `baseUrl` (its node's internal address). Resolves with the publisher once
 * its node answers 200, or with why not (not publishing there, the node gone, a wrong key).
 */
export function openFeed(baseUrl: string, path: string, from: { userId: string; node: string }, key: string, timeoutMs = 5000): Promise<RemotePublisher | string> {
  return new Promise((resolve) => {
    const req = request(baseUrl + path, { headers: { [LINK_KEY_HEADER]: key } }, (res) => {
      req.setTimeout(0);
      if (res.statusCode === 200) return resolve(new RemotePublisher(from.userId, from.node, res));
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c.slice(0, 500)));
      res.on('end', () => resolve(`${res.statusCode}: ${text.slice(0, 300)}`));
      res.on('error', (err) => resolve(err.message));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', (err) => resolve(err.message));
    req.end();
  });
}
