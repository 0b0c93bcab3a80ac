// A pull source's URL for logs and the API: its query or userinfo may hold a token.

export function safeUrl(raw: string): URL | null {
  try {
    return new URL(raw);
  } catch {
    return null;
  }
}

/** Scheme, host and path: enough to recognise a source without showing a token from its query or userinfo. */
export function redactUrl(raw: string): string {
  const u = safeUrl(raw);
  return u ? `${u.protocol}//${u.host}${u.pathname}` : '(unparsable URL)';
}
