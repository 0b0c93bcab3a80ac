// node-media-server's RTMP client, as a relay's push uses it (src/relay/engine-push.ts): it connects, does the
// handshake, connect, releaseStream/FCPublish, createStream and publish, and answers the server's pings and
// acknowledgement windows for the whole session. Once the server has said NetStream.Publish.Start, the media is
// written by the engine (native/src/plane/rtmp_out.h) on the same socket, so from then on every byte the client
// writes must go through the engine's queue, which keeps RTMP messages whole: `handOver` redirects its output.
//
// This is the one seam into node-media-server's client (src/ingest/rtmp/guarded-rtmp.ts is the one into its server
// side protocol class). It relies on more than the client's public methods — its `onOutputCallback` hook, its
// `socket`, `baseUri`, `outChunkSize` and `streamId` fields and the inherited `sendInvokeMessage` — so
// `checkRtmpClient()` (run once at start-up) verifies those shapes on a fresh client; another shape stops the
// gateway with one line, like the server side's check.

import RtmpClient from 'node-media-server/src/protocol/rtmp_client.js';
import type { Socket } from 'node:net';
import { NodeMediaServerShapeError } from './ingest/rtmp/guarded-rtmp.js';

/** The step of the session an attempt reached; a failure is explained by the step (src/relay/push-diagnosis.ts). */
export type PublishStep = 'tcp' | 'handshake' | 'connect' | 'publish';

/** An RTMP URL split the way OBS and ffmpeg send it: tcUrl up to the application, the stream name with its query. */
export interface PushUrl {
  host: string;
  port: number;
  app: string;
  tcUrl: string;
  /** The publish command's name: the path after the application, and the query (stream keys often live there). */
  name: string;
}

export function splitPushUrl(url: string): PushUrl {
  const u = new URL(url);
  if (u.protocol !== 'rtmp:') throw new Error(`not an rtmp:// URL: ${u.protocol}`);
  const parts = u.pathname.split('/').filter(Boolean);
  if (parts.length < 2) throw new Error('an RTMP push URL names an application and a stream: rtmp://host/app/stream');
  const port = Number(u.port || 1935);
  const app = decodeURIComponent(parts[0]!);
  const host = u.hostname;
  return { host, port, app, tcUrl: `rtmp://${u.host}/${parts[0]}`, name: parts.slice(1).join('/') + u.search };
}

/** What a published session gives the engine, and how it ends. */
export interface PublishedSession {
  socket: Socket;
  /** The message stream createStream gave: the engine's messages carry it. */
  streamId: number;
  /** The chunk size the client announced (Set Chunk Size): the engine chunks with it. */
  chunkSize: number;
  /** From now on every byte the client writes (pongs, acknowledgements, the closing commands) goes to `write`. */
  handOver(write: (bytes: Buffer) => void): void;
  /** FCUnpublish and deleteStream, through the hand-over's writer (the engine's queue keeps them after the media). */
  unpublish(): void;
  /** The socket closed or failed (once), or the server sent close/deleteStream. */
  onEnd(cb: (why: string) => void): void;
  close(): void;
}

interface ClientInternals {
  socket: Socket | null;
  baseUri: string;
  outChunkSize: number;
  streamId: number;
  onOutputCallback: (bytes: Buffer) => void;
  sendInvokeMessage(sid: number, opt: Record<string, unknown>): void;
}

/**
 * Connects and publishes `url`, reporting each step as it starts. Rejects with the server's words (or the socket's
 * error) when a step fails, and after `timeoutMs` without an answer.
 */
export async function publishRtmp(url: string, timeoutMs: number, step: (s: PublishStep, app: string) => void): Promise<PublishedSession> {
  const target = splitPushUrl(url);
  const client = new RtmpClient();
  const inner = client as unknown as ClientInternals;
  let ended: ((why: string) => void) | null = null;
  let endWhy = '';
  const end = (why: string): void => {
    if (endWhy) return;
    endWhy = why;
    ended?.(why);
  };
  client.onErrorCallback = (e) => end(e.message);
  client.onCloseCallback = (hadError) => end(hadError ? 'the connection failed' : 'the server closed the session');
  let timer: NodeJS.Timeout | null = null;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from the server in ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    step('tcp', target.app);
    const connecting = client.connect(url);
    inner.socket?.once('connect', () => step('handshake', target.app));
    await Promise.race([connecting, deadline]);
    // connect's tcUrl is the application's URL, as OBS and ffmpeg send it: not the stream name and key
    inner.baseUri = target.tcUrl;
    step('connect', target.app);
    await Promise.race([client.sendConnect(), deadline]);
    step('publish', target.app);
    for (const cmd of ['releaseStream', 'FCPublish']) inner.sendInvokeMessage(0, { cmd, transId: 0, cmdObj: null, streamName: target.name });
    await Promise.race([client.sendCreateStream(), deadline]);
    await Promise.race([client.sendPublish(target.name), deadline]);
  } catch (err) {
    client.disconnect();
    throw err;
  } finally {
    if (timer) clearTimeout(timer);
  }
  const socket = inner.socket;
  if (!socket || endWhy) {
    client.disconnect();
    throw new Error(endWhy || 'the connection closed');
  }
  return {
    socket,
    streamId: inner.streamId,
    chunkSize: inner.outChunkSize,
    handOver: (write) => {
      inner.onOutputCallback = write;
    },
    unpublish: () => {
      inner.sendInvokeMessage(0, { cmd: 'FCUnpublish', transId: 0, cmdObj: null, streamName: target.name });
      inner.sendInvokeMessage(inner.streamId, { cmd: 'deleteStream', transId: 0, cmdObj: null, streamId: inner.streamId });
    },
    onEnd: (cb) => {
      ended = cb;
      if (endWhy) cb(endWhy);
    },
    close: () => client.disconnect(),
  };
}

let checked = false;

/** Throws NodeMediaServerShapeError when the installed client is not the shape relied on; once per process. */
export function checkRtmpClient(): void {
  if (checked) return;
  const problem = rtmpClientProblem();
  if (problem) throw new NodeMediaServerShapeError(problem);
  checked = true;
}

/** What differs in node-media-server's RTMP client, or null. */
export function rtmpClientProblem(Client: new () => unknown = RtmpClient): string | null {
  const c = new Client() as Partial<ClientInternals> & Record<string, unknown>;
  for (const name of ['connect', 'sendConnect', 'sendCreateStream', 'sendPublish', 'disconnect', 'sendInvokeMessage']) {
    if (typeof c[name] !== 'function') return `RtmpClient.prototype.${name} is ${typeof c[name]}, not a function`;
  }
  if (typeof c.onOutputCallback !== 'function') return 'a new RtmpClient has no onOutputCallback function';
  if (c.socket !== null) return 'a new RtmpClient\'s socket is not null';
  if (typeof c.baseUri !== 'string') return 'a new RtmpClient has no baseUri string';
  if (typeof c.streamId !== 'number') return 'a new RtmpClient has no streamId number';
  if (typeof c.outChunkSize !== 'number' || c.outChunkSize < 128) return `a new RtmpClient's outChunkSize is ${String(c.outChunkSize)}, not a chunk size`;
  // every write goes through onOutputCallback: a Set Chunk Size must reach a replaced hook
  const seen: Buffer[] = [];
  c.onOutputCallback = (b: Buffer) => void seen.push(b);
  (c as unknown as { setChunkSize(n: number): void }).setChunkSize?.(c.outChunkSize);
  if (seen.length !== 1 || seen[0]!.length !== 16 || seen[0]!.readUInt32BE(12) !== c.outChunkSize) {
    return 'RtmpClient does not write through its onOutputCallback';
  }
  return null;
}
