// Node's internals that roomgate reaches, in one place. Node keeps some per-object state under symbols that its
// modules do not export: src/ingest/rtmp/socket-reader.ts (a socket's onread fields) and src/room/srtp-transport.ts
// (a UDP socket's handle, through udpSocketFd below) find those symbols by their description. A TCP socket's file
// descriptor (tcpSocketFd), which the RTMP hand-over gives the media engine, is on its `_handle`. Each falls back to
// the public path (or -1) when the shape is not there.

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

/** The file descriptor behind a node:net socket, or -1 (closed, or a Node that keeps the handle elsewhere). */
export function tcpSocketFd(socket: object): number {
  const handle = (socket as { _handle?: { fd?: unknown } })._handle;
  return typeof handle?.fd === 'number' && handle.fd >= 0 ? handle.fd : -1;
}
