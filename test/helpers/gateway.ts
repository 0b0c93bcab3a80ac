// Starts a real gateway in the test process on free loopback ports, with a test app.

import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { startGateway, type Gateway } from '../../src/main.js';

export const TEST_APP = { sdkAppId: 1400000001, secretKey: 'roomgate-test-secret-9f8e7d6c5b4a' };
export const OTHER_APP = { sdkAppId: 1400000002, secretKey: 'roomgate-other-secret-0a1b2c3d' };

const require = createRequire(import.meta.url);
/** The official Tencent UserSig library (tls-sig-api-v2), so tests use signatures nobody here wrote. */
const TLSSigAPIv2 = require('tls-sig-api-v2') as {
  Api: new (sdkAppId: number, key: string) => {
    genUserSig(userId: string, expire: number): string;
    genPrivateMapKeyWithStringRoomID(userId: string, expire: number, room: string, priv: number): string;
  };
};

export function officialUserSig(userId: string, expire = 3600, app = TEST_APP): string {
  return new TLSSigAPIv2.Api(app.sdkAppId, app.secretKey).genUserSig(userId, expire);
}

/** A PrivateMapKey for a string room, made by the official library: `priv` is TRTC's bit map (PRIV). */
export function officialPrivateMapKey(userId: string, room: string, priv: number, app = TEST_APP, expire = 3600): string {
  return new TLSSigAPIv2.Api(app.sdkAppId, app.secretKey).genPrivateMapKeyWithStringRoomID(userId, expire, room, priv);
}

/** A UserSig made by the official library at a past time, so it is expired now. */
export function expiredOfficialUserSig(userId: string, app = TEST_APP): { sig: string; expiredAt: Date } {
  const realNow = Date.now;
  const then = realNow() - 7200_000;
  Date.now = () => then;
  try {
    const sig = new TLSSigAPIv2.Api(app.sdkAppId, app.secretKey).genUserSig(userId, 60);
    return { sig, expiredAt: new Date((Math.floor(then / 1000) + 60) * 1000) };
  } finally {
    Date.now = realNow;
  }
}

export interface TestGateway {
  gw: Gateway;
  config: Config;
  rtmpBase: string;
  httpBase: string;
  /** rtmp://…/push/<room>?sdkappid=…&userid=…&usersig=… with a fresh official UserSig unless one is given. */
  pushUrl(room: string, userId: string, opts?: { sig?: string; sdkAppId?: number }): string;
  getJson(path: string): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export async function startTestGateway(overrides: Record<string, unknown> = {}): Promise<TestGateway> {
  const config = loadConfig({
    env: {},
    overrides: {
      rtmp: { port: 0, authFailureDelayMinMs: 10, authFailureDelayMaxMs: 50 },
      http: { port: 0 },
      apps: [TEST_APP, OTHER_APP],
      ...overrides,
      // recordings go to a directory of the test's own, never into the working tree (also when a test sets other
      // recording keys: spread after them, a plain `recording` override would drop the dir)
      recording: { dir: mkdtempSync(join(tmpdir(), 'rg-recordings-')), ...(overrides.recording as object | undefined) },
      // the history's SQLite file likewise (a test that restarts on the same file names it)
      store: { file: join(mkdtempSync(join(tmpdir(), 'rg-store-')), 'roomgate.db'), ...(overrides.store as object | undefined) },
    } as never,
  });
  const log = createLogger(process.env.ROOMGATE_TEST_LOG ?? 'silent', process.stderr);
  const gw = await startGateway(config, log);
  const rtmpBase = `rtmp://127.0.0.1:${gw.rtmp.port}`;
  const httpBase = `http://127.0.0.1:${gw.http.port}`;
  return {
    gw,
    config,
    rtmpBase,
    httpBase,
    pushUrl(room, userId, opts = {}) {
      const sdkAppId = opts.sdkAppId ?? TEST_APP.sdkAppId;
      const sig = opts.sig ?? officialUserSig(userId);
      return `${rtmpBase}/push/${room}?sdkappid=${sdkAppId}&userid=${userId}&usersig=${sig}`;
    },
    async getJson(path) {
      const res = await fetch(httpBase + path);
      return { status: res.status, body: await res.json() };
    },
    close: () => gw.close('test finished'),
  };
}

/** Polls `fn` until it returns a truthy value or the time runs out. */
type Truthy<T> = Exclude<T, null | undefined | false | 0 | ''>;

export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 10000, what = 'condition'): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as Truthy<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
