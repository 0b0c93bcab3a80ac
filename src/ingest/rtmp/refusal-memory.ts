// Remembers, for a few seconds, that a user's stream was refused for its codec settings. OBS does not read the
// server's status once it is streaming: a mid-stream refusal looks to it like a dropped connection, and it
// reconnects every 2 s forever without ever showing why. Refusing the reconnect at publish time, with the same
// reason, is what OBS does read: it logs the reason and backs off (2 s, 3 s, 4.6 s, … until its retry limit)
// instead of streaming again for seconds each time. Each refused retry renews the memory; a person who stops the
// stream and changes the encoder settings takes longer than the window, so a fixed stream is not refused by memory.
// The connection applies it only to encoders that reconnect by themselves (see connection.ts).

export const REFUSAL_MEMORY_MS = 10_000;

export class RefusalMemory {
  private readonly recent = new Map<string, { reason: string; at: number }>();

  note(sdkAppId: number, userId: string, reason: string): void {
    this.prune();
    this.recent.set(`${sdkAppId}/${userId}`, { reason, at: Date.now() });
  }

  /** The reason this user's last stream was refused, if that was within the window (which this renews). */
  recall(sdkAppId: number, userId: string): string | null {
    const r = this.recent.get(`${sdkAppId}/${userId}`);
    if (!r || Date.now() - r.at >= REFUSAL_MEMORY_MS) return null;
    r.at = Date.now();
    return r.reason;
  }

  private prune(): void {
    const now = Date.now();
    for (const [k, v] of this.recent) if (now - v.at >= REFUSAL_MEMORY_MS) this.recent.delete(k);
  }
}
