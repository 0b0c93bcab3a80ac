// Node keeps some per-object state under symbols that its modules do not export. The two places that reach for it
// (src/ingest/rtmp/socket-reader.ts: a socket's onread fields; src/room/srtp-transport.ts: a UDP socket's handle)
// find those symbols by their description, and fall back to the public path when one is missing.

/** The object's own symbol-keyed property with this description, if it has one. */
export function ownSymbol(target: object, description: string): symbol | undefined {
  return Object.getOwnPropertySymbols(target).find((s) => s.description === description);
}
