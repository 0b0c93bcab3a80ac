// Node's internals that roomgate reaches, in one place. Node keeps some per-object state under symbols that its
// modules do not export: a socket's onread fields (useReadBuffer, for src/net/socket-reader.ts) and a UDP socket's
// handle (udpSocketFd, for src/room/srtp-transport.ts; stopUdpReading, for src/ingest/whip/rtp-intake.ts) are found by their symbols' description. A TCP socket's file
// descriptor (tcpSocketFd), which the RTMP hand-over gives the media engine, is on its `_handle`. Each falls back to
// the public path (or -1) when the shape is not there.

import dgram from 'node:dgram';

/** The object's own symbol-keyed property with this description, if it has one. */
export function ownSymbol(target: object, description: string): symbol | undefined {
  return Object.getOwnPropertySymbols(target).find((s) => s.description === description);
}

/**
 * The file descriptor behind a node:dgram socket, or -1 (not bound yet, or a Node that keeps the handle elsewhere).
 * node:dgram keeps its handle in the state object under the symbol described 'state symbol'.
 */
export function udpSocketFd(socket: object): number {
  const state = ownSymbol(socket, 'state symbol');
  const handle = state ? (socket as Record<symbol, { handle?: { fd?: unknown } }>)[state]?.handle : undefined;
  return typeof handle?.fd === 'number' && handle.fd >= 0 ? handle.fd : -1;
}

/**
 * Stops Node reading a node:dgram socket (its handle's recvStop, as socket.close() does first) so that another
 * reader, the media engine's thread, takes its datagrams; sending goes on as before. False when the shape is not
 * there (then Node keeps reading and nothing changed).
 */
export function stopUdpReading(socket: object): boolean {
  const state = ownSymbol(socket, 'state symbol');
  const handle = state ? (socket as Record<symbol, { handle?: { recvStop?: unknown } }>)[state]?.handle : undefined;
  if (typeof handle?.recvStop !== 'function') return false;
  return (handle.recvStop as () => number).call(handle) === 0;
}

/** The file descriptor behind a node:net socket, or -1 (closed, or a Node that keeps the handle elsewhere). */
export function tcpSocketFd(socket: object): number {
  const handle = (socket as { _handle?: { fd?: unknown } })._handle;
  return typeof handle?.fd === 'number' && handle.fd >= 0 ? handle.fd : -1;
}

/**
 * Switches a socket Node made (net.Server, child_process) to Node's `onread` mode: every read lands in `buffer` and
 * goes to `onRead`, with no Readable machinery. The same two fields and one handle call the net.Socket constructor
 * uses for its `onread` option. False (nothing changed) on a socket of another shape, or already read.
 */
export function useReadBuffer(socket: object, buffer: Buffer, onRead: (bytes: number, buffer: Buffer) => void): boolean {
  const kBuffer = ownSymbol(socket, 'kBuffer');
  const kBufferCb = ownSymbol(socket, 'kBufferCb');
  const handle = (socket as { _handle?: { useUserBuffer?: (b: Uint8Array) => void } | null })._handle;
  const fields = socket as Record<symbol, unknown>;
  if (!kBuffer || !kBufferCb || fields[kBuffer] !== null || typeof handle?.useUserBuffer !== 'function') return false;
  handle.useUserBuffer(buffer);
  fields[kBuffer] = buffer;
  fields[kBufferCb] = onRead;
  return true;
}

const EXCLUSIVE = Symbol('roomgate exclusive binds');

/**
 * In a cluster worker (serve --workers), node:dgram hands a bind to the primary and shares one socket among the
 * workers unless the bind says `exclusive: true`; werift binds without it, so ICE of one worker would read another's
 * datagrams and the media engine could not take the socket's fd. This makes every bind of this process exclusive:
 * each worker owns its UDP sockets, in its own slice of the port range. Idempotent.
 */
export function exclusiveUdpBinds(): void {
  const proto = dgram.Socket.prototype as dgram.Socket & { [EXCLUSIVE]?: true };
  if (proto[EXCLUSIVE]) return;
  const bind = proto.bind as (...args: unknown[]) => dgram.Socket;
  proto.bind = function (this: dgram.Socket, ...args: unknown[]): dgram.Socket {
    const cb = typeof args.at(-1) === 'function' ? [args.pop()] : [];
    const first = args[0];
    const options = first !== null && typeof first === 'object'
      ? { ...(first as dgram.BindOptions), exclusive: true }
      : { ...(first !== undefined ? { port: first as number } : {}), ...(typeof args[1] === 'string' ? { address: args[1] } : {}), exclusive: true };
    return bind.call(this, options, ...cb);
  } as typeof proto.bind;
  proto[EXCLUSIVE] = true;
}
