// Reads a stream socket Node made (an accepted TCP socket, a child's stdout pipe) into one reused buffer instead of a
// fresh Buffer per read pushed through Node's Readable machinery. That is Node's documented `onread` mode (new
// net.Socket({ onread })), which net.Server and child_process offer no option for, so it is switched on for a socket
// they made (useReadBuffer in src/node-internals.ts). For a publisher the stream machinery and the 64 KiB allocation
// per read were most of Node's cost of reading the socket (docs/performance.md, "Room").
//
// Contract: `onData` gets a view into a buffer that the next read overwrites, so it must consume the bytes before
// it returns (the RTMP parser copies what it keeps). When this Node keeps those internals elsewhere, the socket is
// read the ordinary way ('data' events) and the caller cannot tell the difference.

import type { Socket } from 'node:net';
import { useReadBuffer } from '../node-internals.js';

/**
 * Shared by every socket read this way: a read callback runs to completion before the event loop delivers the next
 * read, on whichever socket. 64 KiB is what Node allocates per read itself.
 */
const sharedReadBuffer = Buffer.allocUnsafe(64 * 1024);

export type SocketReadMode = 'reused-buffer' | 'stream';

/**
 * Starts reading `socket` (made with `pauseOnConnect`, or not yet read) and hands each read to `onData`. Returns how
 * it reads, for logs and tests.
 */
export function readSocket(socket: Socket, onData: (data: Buffer) => void): SocketReadMode {
  if (useReadBuffer(socket, sharedReadBuffer, (bytes, buffer) => onData(buffer.subarray(0, bytes)))) {
    socket.resume();
    return 'reused-buffer';
  }
  socket.on('data', onData);
  socket.resume();
  return 'stream';
}
