// Errors raised by the media parsers. A MediaError always means "the bytes the publisher sent are not what they
// claim to be"; FlvToMedia turns it into a `malformed` Refusal. Anything else thrown from this directory is a bug.

export class MediaError extends Error {
  override readonly name = 'MediaError';
}

/** Throws a MediaError; lets expression-position checks stay on one line. */
export function fail(message: string): never {
  throw new MediaError(message);
}
