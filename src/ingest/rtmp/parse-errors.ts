// What went wrong in an RTMP connection's input, as a short stable kind for counters and logs. node-media-server's
// parser and AMF0 decoder were written for well-behaved encoders: on malformed input they throw whatever JavaScript
// throws (null dereferences, Buffer range errors, URL errors). The connection catches each one; the kind says where
// it came from without carrying any of the peer's bytes, so `GET /api/limits` stays low-cardinality.

export type RtmpErrorKind =
  /** A limit of ours (chunk size, message size, chunk streams): GuardedRtmp refused before the parser went on. */
  | 'limit'
  /** A protocol control message too short for the value it carries (SetChunkSize, WindowAcknowledgementSize). */
  | 'control'
  /** An AMF0 command node-media-server's decoder could not read (unknown type marker, read past the end, nesting). */
  | 'amf'
  /** A command whose arguments have the wrong types or shapes (connect without an app, publish without a name). */
  | 'bad-command'
  /** A connect whose tcUrl is not a URL (node-media-server would throw on `new URL`). */
  | 'invalid-url'
  /** Kinds of exceptions that escaped from somewhere not guarded above: each one is worth a look. */
  | 'null-deref'
  | 'out-of-range'
  | 'type'
  | 'stack'
  /** The native data plane's chunk reader found a broken chunk stream (other than a limit). */
  | 'chunk-stream'
  | 'other';

/** Thrown from inside the parser; the connection catches it, counts its kind and closes that one socket. */
export class RtmpProtocolError extends Error {
  override name = 'RtmpProtocolError';
  constructor(
    message: string,
    readonly kind: RtmpErrorKind = 'limit',
  ) {
    super(message);
  }
}

/** The kind of anything thrown while parsing a connection's input; derived from the error's class and code only. */
export function rtmpErrorKind(err: unknown): RtmpErrorKind {
  if (err instanceof RtmpProtocolError) return err.kind;
  if (!(err instanceof Error)) return 'other';
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ERR_INVALID_URL') return 'invalid-url';
  if (code === 'ERR_OUT_OF_RANGE' || code === 'ERR_BUFFER_OUT_OF_BOUNDS') return 'out-of-range';
  if (err instanceof RangeError) return /call stack/i.test(err.message) ? 'stack' : 'out-of-range';
  if (err instanceof TypeError) return /of (null|undefined)\b/.test(err.message) ? 'null-deref' : 'type';
  return 'other';
}

/** The kind of a protocol error the native plane reports (its sentences are ours, native/src/plane/rtmp_chunks.cc). */
export function planeErrorKind(text: string): RtmpErrorKind {
  if (/too short/.test(text)) return 'control';
  return /more than|exceeds|outside/.test(text) ? 'limit' : 'chunk-stream';
}
