// UserSig: TRTC's per-user credential (TLS sig v2), signed with the application's SDKSecretKey. Generation
// matches Tencent's Node library byte for byte; verification follows the official Go/PHP verifiers, with reasons
// written for the person who has to fix their token. The envelope itself lives in tls-sig.ts.

import { encodeTlsSig, verifyTlsSig, type TlsSigFailure, type TlsSigFailureCode, type TlsSigOk } from './tls-sig.js';
import { nowSeconds } from './time.js';

export type UserSigFailureCode = TlsSigFailureCode;
export type UserSigResult = TlsSigOk | TlsSigFailure;

export interface GenUserSigArgs {
  sdkAppId: number;
  secretKey: string;
  userId: string;
  /** Validity in seconds from `now` (TLS.expire is relative, not an absolute time). */
  expireSeconds: number;
  /** Issue time in Unix seconds; defaults to the current time. */
  now?: number;
  userbuf?: Buffer;
}

export function genUserSig(args: GenUserSigArgs): string {
  return encodeTlsSig({
    sdkAppId: args.sdkAppId,
    secretKey: args.secretKey,
    userId: args.userId,
    time: args.now ?? nowSeconds(),
    expire: args.expireSeconds,
    userbuf: args.userbuf,
  });
}

export interface VerifyUserSigArgs {
  userSig: string;
  sdkAppId: number;
  secretKey: string;
  userId: string;
  now?: number;
  /** true: the sig must carry a userbuf; false: it must not; omitted: either is accepted. */
  expectUserbuf?: boolean;
}

export function verifyUserSig(args: VerifyUserSigArgs): UserSigResult {
  return verifyTlsSig('usersig', {
    sig: args.userSig,
    sdkAppId: args.sdkAppId,
    secretKey: args.secretKey,
    userId: args.userId,
    now: args.now,
    expectUserbuf: args.expectUserbuf,
  });
}
