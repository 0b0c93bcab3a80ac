// What the API 3.0 relay-to-CDN actions (StartPublishCdnStream family, trtc-egress.md §4) need from whoever runs
// relays. The API checks every field and authenticates the agent user; the service (src/relay, wired in main.ts)
// owns tasks, taps and the RTMP clients. Values here are already checked.

import type { Ticket } from '../room/door.js';
import type { MixLayoutSpec, MixSpec } from './cloud-recording-service.js';
import type { AudioListsParam } from './cdn-relay-audio-lists.js';
import type { NamedRoom } from './cdn-relay-room.js';

/** A mixed relay's AudioParams lists as they stand (cdn-relay-audio-lists.ts says how requests change them). */
export interface MixAudioLists {
  /** The allowlist: user id → SoundLevel (0–100, 100 as published); null: every publisher, as published. */
  allow: ReadonlyMap<string, number> | null;
  /** The blocklist: these users' audio is not mixed, whatever the allowlist says. */
  block: ReadonlySet<string>;
}

export interface RelaySpec {
  sdkAppId: number;
  /** As roomgate names rooms: the integer room 1234 is "1234". */
  roomId: string;
  /** StartPublishCdnStream's RoomIdType 0 (integer room); callbacks carry RoomId in this type. */
  numericRoom: boolean;
  /** AgentParams.UserId: the relay's user in the room (callbacks name it as UserId). */
  agentUserId: string;
  /** AgentParams.MaxIdleTime: the task ends when its relayed user has been away this long. */
  maxIdleTimeSec: number;
  /** SingleSubscribeParams: the user whose stream is relayed as it is (WithTranscoding 0); '' for a mixed relay. */
  userId: string;
  /** WithTranscoding 1: the room's publishers composed by the mixed recordings' compositor; null for single-stream. */
  mix: MixSpec | null;
  /** Whose audio the mix takes, and how loud (a single-stream relay: everyone, which means nothing there). */
  audioLists: MixAudioLists;
  /** AudioParams sent: the user's audio is relayed. */
  audio: boolean;
  /** VideoParams sent: the user's video is relayed (absent: an audio-only relay). */
  video: boolean;
  /** PublishCdnParams[].PublishCdnUrl, in request order, distinct. */
  urls: string[];
  /** SeiParams (mixed relays); absent: no SEI. */
  sei?: SeiSpec;
}

/** SeiParams, checked (a mixed relay's SEI messages: src/relay/sei-inserter.ts). */
export interface SeiSpec {
  layoutVolume?: { appData?: string; payloadType: number; intervalMs: number; followIdr: boolean };
  passThrough?: { content: string; payloadType: number; uuid?: string; intervalMs: number; followIdr: boolean };
}

/** UpdatePublishCdnStream: incremental, so an absent field (undefined) leaves that part as it is. */
export interface RelayChanges {
  sequence: number;
  withTranscoding: 0 | 1;
  userId?: string;
  urls?: string[];
  /** Which kinds the request's AudioParams / VideoParams mention; a relay cannot switch between A+V and one kind. */
  audio?: boolean;
  video?: boolean;
  /** Mixed relays: VideoParams.LayoutParams / BackGroundColor sent again. */
  layout?: MixLayoutSpec;
  /** Mixed relays: AudioParams' lists, where sent (the rooms their entries name are in `rooms`). */
  audioLists?: AudioListsParam;
  /** The rooms the request's MixUserInfos name (SingleSubscribeParams, AudioParams' lists, MaxVideoUser, pictures),
   * to be judged against the task's room (cdn-relay-room.ts foreignRoom). */
  rooms?: NamedRoom[];
  /** Mixed relays: FeedBackRoomParams sent again, its users let in by the door (an empty list: none any more). */
  feedback?: Ticket[];
  /** The same users as sent (UserSigs included): kept for a resume elsewhere, and what an Update handed to another
   * node carries instead of `feedback` (that node's door lets them in). */
  feedbackUsers?: FeedBackUser[];
  /** Mixed relays: SeiParams sent again (an empty object: no SEI any more). */
  sei?: SeiSpec;
}

export const FEEDBACK_NEEDS_MIX =
  'FeedBackRoomParams brings a mixed relay\'s picture (WithTranscoding 1) into rooms; a single stream is already in its room: leave FeedBackRoomParams out.';

/** What let a relay's users in, kept with the task so that another node can let them in again and resume it. */
export interface RelayCredentials {
  /** AgentParams.UserSig. */
  userSig: string;
  /** FeedBackRoomParams' users, UserSigs included ([] without). */
  feedback: FeedBackUser[];
}

/** One FeedBackRoomParams entry, checked (its UserSig not yet: the door does that). */
export interface FeedBackUser {
  roomId: string;
  numericRoom: boolean;
  userId: string;
  userSig: string;
}

export type StartResult =
  | { ok: true; taskId: string }
  | { ok: false; error: 'limit'; limit: number }
  /** A URL the gateway may not push to (pull.allow / pull.deny), or the agent user already in use; reason is a sentence. */
  | { ok: false; error: 'url' | 'user-busy'; reason: string }
  /** The relay could not start here (a mixed relay's compositor); reason is a sentence. */
  | { ok: false; error: 'failed'; reason: string };

/** `refused`: a sentence, sent with `code` (InvalidParameter when absent). */
export type UpdateResult = 'updated' | 'not-found' | 'outdated' | { refused: string; code?: string };

export interface CdnRelayService {
  /**
   * `feedback`: FeedBackRoomParams' users, let in by the door (mixed relays only). `credentials`: what let the users
   * in, kept with the task so that a surviving node can resume it (without them a node's death ends it).
   */
  start(spec: RelaySpec, ticket: Ticket, feedback: readonly Ticket[], credentials?: RelayCredentials): Promise<StartResult>;
  update(sdkAppId: number, taskId: string, changes: RelayChanges): Promise<UpdateResult>;
  stop(sdkAppId: number, taskId: string): Promise<'stopped' | 'not-found'>;
}
