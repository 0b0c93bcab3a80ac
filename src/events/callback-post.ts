// One callback POST with TRTC's headers. A 2xx answer within the timeout is a delivery; anything else is a failure
// described in a few words for the log.

export interface CallbackRequest {
  url: string;
  sdkAppId: number;
  body: string;
  /** base64 HMAC-SHA256 of the body; '' when the app has no callback key (the header is left out then). */
  sign: string;
}

/** Resolves null when delivered, else a short description of the failure. Never rejects. */
export async function postCallback(req: CallbackRequest, timeoutMs: number, abort: AbortSignal): Promise<string | null> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', SdkAppId: String(req.sdkAppId) };
  if (req.sign) headers.Sign = req.sign;
  try {
    const res = await fetch(req.url, {
      method: 'POST',
      headers,
      body: req.body,
      redirect: 'manual',
      signal: AbortSignal.any([abort, AbortSignal.timeout(timeoutMs)]),
    });
    // The answer's body is ignored (TRTC recommends {"code":0}); drop it so the connection can be reused.
    await res.body?.cancel().catch(() => {});
    return res.status >= 200 && res.status < 300 ? null : `HTTP ${res.status}`;
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    if (e.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
    if (e.name === 'AbortError') return 'aborted (shutting down)';
    return e.cause?.code ?? e.message;
  }
}
