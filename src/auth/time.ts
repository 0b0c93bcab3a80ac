// Time helpers for credential checks. Every verifier takes an optional `now` (Unix seconds) so tests and callers
// can pin the clock; these helpers keep the default and the human-readable rendering in one place.

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * Renders Unix seconds as ISO-8601 without milliseconds (`2026-11-21T10:00:00Z`), the form used in reasons.
 * Values outside the Date range (a forged or absurd expiry) fall back to the raw number instead of throwing.
 */
export function isoSeconds(seconds: number): string {
  const date = new Date(seconds * 1000);
  if (!Number.isFinite(date.getTime())) return `${seconds} (Unix seconds)`;
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
