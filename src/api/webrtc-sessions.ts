// Admission of WHIP and WHEP sessions. Each session holds a UDP port and a werift PeerConnection until it ends, so
// the number one app or one userid may hold at once is capped (`webrtc.maxSessionsPerApp`, `maxSessionsPerUser`):
// one token holder cannot take every port. A session counts from before its answer until it ends; refusals carry
// `Retry-After`, the longest an abandoned session can still hold its port (the connect deadline).

import type { FastifyReply } from 'fastify';
import type { RefusalCounters } from '../events/refusal-counters.js';
import type { Logger } from '../log.js';
import { refuse } from './cors.js';

export interface SessionCaps {
  maxSessionsPerApp: number;
  maxSessionsPerUser: number;
  connectTimeoutMs: number;
}

/** A place held by one session; `release` is idempotent. */
export interface SessionSlot {
  release(): void;
}

export class WebRtcSessions {
  private readonly perApp = new Map<number, number>();
  private readonly perUser = new Map<string, number>();

  constructor(
    private readonly caps: SessionCaps,
    private readonly counters: RefusalCounters,
    private readonly log: Logger,
  ) {}

  /** Seconds a refused client should wait: by then every abandoned session has passed its deadline. */
  get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.caps.connectTimeoutMs / 1000));
  }

  /**
   * Takes a place for `userId` of `sdkAppId`, or replies with the reason and returns null: 503 when the app is
   * full (the service is), 429 when this user holds too many (the client should close one).
   */
  admit(reply: FastifyReply, sdkAppId: number, userId: string): SessionSlot | null {
    const userKey = `${sdkAppId}/${userId}`;
    const appCount = this.perApp.get(sdkAppId) ?? 0;
    const userCount = this.perUser.get(userKey) ?? 0;
    if (appCount >= this.caps.maxSessionsPerApp) {
      return this.refuse(reply, 503, 'webrtc.appLimit', { sdkAppId }, `app ${sdkAppId} has ${appCount} WebRTC sessions, its limit (webrtc.maxSessionsPerApp): try again later`);
    }
    if (userCount >= this.caps.maxSessionsPerUser) {
      return this.refuse(reply, 429, 'webrtc.userLimit', { sdkAppId, userId }, `user '${userId}' already has ${userCount} WebRTC sessions, the limit per user (webrtc.maxSessionsPerUser): close one first`);
    }
    this.perApp.set(sdkAppId, appCount + 1);
    this.perUser.set(userKey, userCount + 1);
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        decrement(this.perApp, sdkAppId);
        decrement(this.perUser, userKey);
      },
    };
  }

  /** Replies 503 for an offer that found no free UDP port (see NoUdpPortError). */
  refuseNoPort(reply: FastifyReply, reason: string, sdkAppId: number): FastifyReply {
    this.refuse(reply, 503, 'webrtc.noUdpPort', { sdkAppId }, `${reason}: try again later`);
    return reply;
  }

  private refuse(reply: FastifyReply, status: 429 | 503, counter: string, fields: object, reason: string): null {
    this.counters.inc(counter);
    this.log.warn({ ...fields, retryAfterS: this.retryAfterSeconds }, `WebRTC session refused: ${reason}`);
    refuse(reply.header('Retry-After', String(this.retryAfterSeconds)), status, reason);
    return null;
  }
}

function decrement<K>(map: Map<K, number>, key: K): void {
  const n = (map.get(key) ?? 1) - 1;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}
