// Reads an accepted TCP socket into one reused buffer instead of a fresh Buffer per read pushed through Node's
// Readable machinery. That is Node's documented `onread` mode (new net.Socket({ onread })), which net.Server offers
// no option for, so it is switched on here for a socket the server made: the same two fields and one handle call
// that the Socket constructor uses for `onread`. For a publisher the stream machinery and the 64 KiB allocation per
// read were most of Node's cost of reading the socket (docs/performance.md, "Room").
//
// Contract: `onData` gets a view into a buffer that the next read overwrites, so it must consume the bytes before
// it returns (the RTMP parser copies what it keeps). When this Node keeps those internals elsewhere, the socket is
// read the ordinary way ('data' events) and the caller cannot tell the difference.

import type { Socket } from 'node:net';
import { ownSymbol } from '../../node-internals.js';

/**
 * Shared by every socket read this way: a read callback runs to completion before the event loop delivers the next
 * read, on whichever socket. 64 KiB is what Node allocates per read itself.
 */
const sharedReadBuffer = Buffer.allocUnsafe(64 * 1024);

export type SocketReadMode = 'reused-buffer' | 'stream';

interface UserBufferHandle {
  useUserBuffer?: (buffer: Uint8Array) => void;
}

/**
 * Starts reading `socket` (made with `pauseOnConnect`, or not yet read) and hands each read to `onData`. Returns how
 * it reads, for logs and tests.
 */
export function readSocket(socket: Socket, onData: (data: Buffer) => void): SocketReadMode {
  const kBuffer = ownSymbol(socket, 'kBuffer');
  const kBufferCb = ownSymbol(socket, 'kBufferCb');
  const handle = (socket as unknown as { _handle?: UserBufferHandle | null })._handle;
  const fields = socket as unknown as Record<symbol, unknown>;
  if (kBuffer && kBufferCb && fields[kBuffer] === null && typeof handle?.useUserBuffer === 'function') {
    handle.useUserBuffer(sharedReadBuffer);
    fields[kBuffer] = sharedReadBuffer;
    fields[kBufferCb] = (bytes: number, buffer: Buffer): void => onData(buffer.subarray(0, bytes));
    socket.resume();
    return 'reused-buffer';
  }
  socket.on('data', onData);
  socket.resume();
  return 'stream';
}
