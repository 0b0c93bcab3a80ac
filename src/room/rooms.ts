// The rooms of this gateway, keyed by (sdkAppId, room type, roomId): an integer room and a string room with the same
// digits are two rooms (src/room/room-ref.ts). A room exists while someone is in it: publishers (anchors), and the
// audience — WHEP viewers and the agent users of recording and relay tasks. Everyone comes in through here with a
// ticket from the door (src/room/door.ts). Joining enforces TRTC's rule that a userid publishes in one place at a time
// per app: the newer session kicks the older one.
//
// Who is in a room as TRTC counts users (a userid once, whatever its sessions), and so 101–105, is RoomMembers
// (src/room/members.ts) alone: every session's entry and exit is reported there. What this file keeps beside it is
// what the sessions are, for media and status (a Room's publishers and audience seats), and how to end each one:
// every session in a room, and every task bound to one (a pull task before its first frame), has a handle that room
// control (src/room/room-control.ts) ends for RemoveUser and DismissRoom.

import { isIP } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { MemberRecord, PresenceRecord, Store } from '../store/store.js';
import { StoreUnreachableError } from '../store/redis-connection.js';
import { noRoomEvents, type ExitReason, type RoomEventSink } from '../events/room-events.js';
import { Publisher, type MediaBlock, type PublisherIdentity, type PublisherStatus } from './publisher.js';
import type { MediaEngine } from './engine.js';
import { Viewers } from './viewers.js';
import type { Viewer } from './viewer.js';
import { requireAction, type Door, type EntryRefusal, type Ticket } from './door.js';
import { roomKey, describeRoomRef, type RoomRef } from './room-ref.js';
import { UserBlocks } from './user-blocks.js';
import { RoomMembers } from './members.js';
import { watchTracks } from './track-watch.js';
import { trackRefusals } from '../auth/privileges.js';

export interface RoomMediaOptions {
  /** Opus bitrate for AAC sources, bit/s. */
  opusBitrate: number;
  /** libopus complexity (0..10) for AAC sources; the transcoder's default (5) when absent. */
  opusComplexity?: number;
  /** How long viewers of a publisher that left wait for it to publish again (and a mute outlives an empty room). */
  reconnectGraceMs: number;
}

const DEFAULT_MEDIA: RoomMediaOptions = { opusBitrate: 64000, reconnectGraceMs: 10000 };

export interface RoomStatus {
  sdkAppId: number;
  roomId: string;
  type: 'integer' | 'string';
  users: (PublisherStatus & { viewers: number })[];
  viewers: number;
  /** Everyone in the room who does not publish: WHEP viewers, recording and relay agents. */
  audience: { userId: string; source: AudienceSource }[];
}

/** Who sits in the audience: a WHEP viewer, or the agent user of a cloud recording or a relay to CDN. */
export type AudienceSource = 'whep' | 'record' | 'relay';

/** One audience session's place in a room; leave() says why it went (104 Role 21 when it was the userid's last). */
export interface Seat {
  readonly userId: string;
  readonly source: AudienceSource;
  leave(reason: ExitReason): void;
  /**
   * Many nodes, a drain: the session moves to another node with its task (a recording's or a relay's). It ends here,
   * but its user stays in the room for the cluster: no 104, and no 103 when the taker seats it under the same
   * session. Returns that session for the taker (Rooms.takeUp); null when it had left already.
   */
  handOver(): MemberRecord | null;
}

/** Why room control ends a session or task: RemoveUser named the user, or DismissRoom closed the room. */
export type RemovalCause = 'removed' | 'dismissed';

/**
 * How room control ends a session or a task bound to the room: its user is removed (104 Reason 3), its task ends
 * with its own callbacks. A handle, not a head count: a userid with two sessions has two.
 */
export interface RoomHandle {
  readonly ticket: Ticket;
  readonly kind: 'publisher' | 'audience' | 'task';
  /** Ends the session or task; it leaves the room with Reason 3 (kicked). */
  remove(reason: string, cause: RemovalCause): void;
}

export class Room implements RoomRef {
  readonly publishers = new Map<string, Publisher>();
  readonly audience = new Set<Seat>();
  constructor(
    readonly sdkAppId: number,
    readonly roomId: string,
    readonly numericRoom: boolean,
  ) {}

  get empty(): boolean {
    return this.publishers.size === 0 && this.audience.size === 0;
  }

  /** The publisher a viewer watches: the named user, else the earliest to have joined. */
  pickPublisher(userId?: string): Publisher | undefined {
    let earliest: Publisher | undefined;
    for (const p of this.publishers.values()) {
      if (userId !== undefined) {
        if (p.id.userId === userId) return p;
      } else if (!earliest || p.since < earliest.since) {
        earliest = p;
      }
    }
    return earliest;
  }
}

/**
 * Follows the publishers of one room, whether or not the room exists yet: recorders and relays (consumers that are
 * not viewers) attach to publishers as they come and go, and take their media once its codec config is known.
 */
export interface RoomWatcher {
  publisherJoined(p: Publisher): void;
  publisherLeft(p: Publisher): void;
  /** The publisher's video or audio config became known (or changed), before the frames it describes. */
  publisherMedia(p: Publisher, kind: 'video' | 'audio'): void;
}

export interface RoomsOptions {
  store: Store;
  engine: MediaEngine;
  door: Door;
  log: Logger;
  events?: RoomEventSink;
  media?: Partial<RoomMediaOptions>;
  /** Who is in each room (101–105); made here from `events` when not given (one counting every viewer). */
  members?: RoomMembers;
  /**
   * Many nodes sharing one store: this node's id (written into presence records) and how to end a session another
   * node holds when the same userid publishes here (src/cluster: a command to that node).
   */
  node?: { id: string; kickElsewhere(node: string, sessionId: string, reason: string): void };
}

/** The store (a shared Redis) could not record the publish: the one-userid-one-place rule cannot be kept. */
export type StoreRefusal = { ok: false; status: 503; code: 'store-unavailable'; reason: string };

/**
 * Rooms.addPublisher refused the ticket at the moment of joining (Door.joinRefusal: the room closed since the door let
 * the user in, and this user may not create it; or the store is unreachable). Each ingest answers it as it answers the
 * door's refusals.
 */
export class JoinRefused extends Error {
  override readonly name = 'JoinRefused';
  constructor(readonly refusal: EntryRefusal | StoreRefusal) {
    super(refusal.reason);
  }
}

/** The protocol side of a publisher: where it comes from, for logs, status and the kick message. */
export type PublisherSession = Pick<PublisherIdentity, 'source' | 'remote' | 'sessionId'>;

export class Rooms {
  private readonly rooms = new Map<string, Room>();
  /** Local publishers by session id, so a presence record that names one can kick it. */
  private readonly sessions = new Map<string, Publisher>();
  /** What room control can end, by room key (src/room/room-ref.ts). */
  private readonly handles = new Map<string, Set<RoomHandle>>();
  private readonly publisherHandles = new Map<Publisher, RoomHandle>();
  /** Each publisher's track watch (202/204 when one kind stops while the other flows), stopped when it leaves. */
  private readonly trackWatches = new Map<Publisher, () => void>();
  private readonly viewerSeats = new Map<Viewer, Seat>();
  /** SetUserBlocked's mutes, kept across a publisher's reconnect. */
  private readonly blocks: UserBlocks;
  readonly viewers: Viewers;
  /** Where every publisher and viewer is authenticated before its protocol does any work for it. */
  readonly door: Door;
  private readonly media: RoomMediaOptions;
  private readonly store: Store;
  private readonly engine: MediaEngine;
  private readonly log: Logger;
  private readonly events: RoomEventSink;
  /** The one count of who is in each room, and the only source of 101–105. */
  private readonly members: RoomMembers;
  private readonly watchers = new Map<string, Set<RoomWatcher>>();
  private readonly node: RoomsOptions['node'];

  constructor(o: RoomsOptions) {
    this.store = o.store;
    this.engine = o.engine;
    this.door = o.door;
    this.log = o.log;
    this.events = o.events ?? noRoomEvents;
    this.members = o.members ?? new RoomMembers(this.events, () => true);
    this.node = o.node;
    this.media = { ...DEFAULT_MEDIA, ...o.media };
    this.viewers = new Viewers(this.media.reconnectGraceMs);
    this.blocks = new UserBlocks(this.media.reconnectGraceMs);
  }

  /**
   * Adds the ticket's user as a publisher. `kick` must end the caller's ingest session with the reason (which then
   * calls publisher.end()). Any earlier session of the same userid in this app is kicked first. Throws JoinRefused
   * when the user would create the room and may not (Door.joinRefusal).
   */
  async addPublisher(ticket: Ticket, session: PublisherSession, kick: (reason: string) => void): Promise<Publisher> {
    requireAction(ticket, 'publish');
    const id: PublisherIdentity = { sdkAppId: ticket.sdkAppId, roomId: ticket.roomId, numericRoom: ticket.numericRoom, userId: ticket.userId, ...session };
    let previous: PresenceRecord | undefined;
    try {
      previous = await this.store.presence.claim({
        sdkAppId: id.sdkAppId,
        userId: id.userId,
        roomId: id.roomId,
        sessionId: id.sessionId,
        source: id.source,
        since: Date.now(),
        ...(this.node ? { node: this.node.id } : {}),
      });
    } catch (err) {
      if (!(err instanceof StoreUnreachableError)) throw err;
      throw new JoinRefused({ ok: false, status: 503, code: 'store-unavailable', reason: `${err.message}: the gateway cannot check that this userid publishes nowhere else; publish again shortly` });
    }
    // From here to members.join below nothing awaits: the creation check and the join are one step. It comes before
    // the kick, so the user's own earlier session in this room counts as the room being open.
    const refusal = this.door.joinRefusal(ticket);
    if (refusal) {
      // the presence record goes back to what it was
      await (previous ? this.store.presence.claim(previous) : this.store.presence.release(id.sdkAppId, id.userId, id.sessionId));
      this.log.info({ sdkAppId: id.sdkAppId, roomId: id.roomId, numericRoom: id.numericRoom, userId: id.userId, reason: refusal.reason }, 'join refused');
      throw new JoinRefused(refusal);
    }
    if (previous) {
      const reason = `kicked: the same userid published again from ${id.remote.replace(/:\d+$/, '')}`;
      if (this.node && previous.node && previous.node !== this.node.id) {
        this.log.info({ sdkAppId: id.sdkAppId, userId: id.userId, node: previous.node, new: id.remote }, `${reason} (the old session is on node ${previous.node})`);
        this.node.kickElsewhere(previous.node, previous.sessionId, reason);
      } else {
        this.kickSession(previous.sessionId, reason);
      }
    }
    const pipe = this.engine.openPipe({ opusBitrate: this.media.opusBitrate, opusComplexity: this.media.opusComplexity ?? 5 });
    const refused = trackRefusals(ticket.principal.privileges, 'publish');
    const publisher = new Publisher(id, kick, (p, reason) => this.leave(p, reason), this.events, pipe, this.log.child({ userId: id.userId }), refused);
    const k = roomKey(ticket);
    const blocked = this.blocks.get(k, id.userId);
    if (blocked.audio || blocked.video) publisher.block(blocked); // muted before it (re)joined: nothing started yet
    this.sessions.set(id.sessionId, publisher);
    const handle: RoomHandle = {
      ticket,
      kind: 'publisher',
      remove: (reason) => {
        publisher.kicked = true;
        publisher.kick(reason); // an RTMP encoder reads the reason as onStatus before the socket closes
        publisher.end(reason);
      },
    };
    this.addHandle(k, handle);
    this.publisherHandles.set(publisher, handle);
    publisher.onMedia = (kind) => this.watchersOf(k).forEach((w) => w.publisherMedia(publisher, kind));
    this.roomFor(ticket).publishers.set(id.sessionId, publisher);
    this.members.join(ticket, id.userId, id.sessionId, 'anchor', id.source, clientAddress(id.remote) || undefined);
    this.trackWatches.set(publisher, watchTracks(publisher.tracks, () => {
      const s = publisher.pipe.stats();
      return s && { video: s.videoFrames, audio: s.audioFrames };
    }));
    this.viewers.publisherJoined(k, id.userId, publisher);
    this.watchersOf(k).forEach((w) => w.publisherJoined(publisher));
    this.log.info({ sdkAppId: id.sdkAppId, roomId: id.roomId, numericRoom: id.numericRoom, userId: id.userId, source: id.source }, 'user joined');
    return publisher;
  }

  /**
   * Seats the ticket's user in the audience (103 Role 21 for the userid's first session, 101 first if the room is
   * new; a WHEP viewer only in apps with viewer events). `remove` must end the session or task, which then calls
   * seat.leave(). `sessionId`: a drain's taker seats a task's user under the session the giver handed over.
   */
  seat(ticket: Ticket, source: AudienceSource, remove: (reason: string, cause: RemovalCause) => void, sessionId: string = randomUUID()): Seat {
    const k = roomKey(ticket);
    let handle: RoomHandle | null = null;
    let exitReason: ExitReason | null = null;
    /** Out of the room here (its handle, its place in the audience); false when it was out already. */
    const unseat = (then: () => void): boolean => {
      if (!handle) return false;
      this.dropHandle(k, handle);
      handle = null;
      const room = this.rooms.get(k);
      room?.audience.delete(seat);
      then();
      this.forgetIfEmpty(ticket, room);
      return true;
    };
    const seat: Seat = {
      userId: ticket.userId,
      source,
      leave: (reason) => void unseat(() => this.members.leave(ticket, ticket.userId, sessionId, exitReason ?? reason)),
      handOver: () => {
        if (!unseat(() => this.members.handOver(ticket, ticket.userId, sessionId))) return null;
        return { sessionId, sdkAppId: ticket.sdkAppId, roomId: ticket.roomId, numericRoom: ticket.numericRoom, userId: ticket.userId, role: 'audience', source };
      },
    };
    handle = {
      ticket,
      kind: 'audience',
      remove: (reason, cause) => {
        exitReason = 'kicked';
        remove(reason, cause);
        seat.leave('kicked'); // in case `remove` did not
      },
    };
    this.addHandle(k, handle);
    this.roomFor(ticket).audience.add(seat);
    this.members.join(ticket, ticket.userId, sessionId, 'audience', source);
    return seat;
  }

  /**
   * A task bound to the room that is not in it yet (a pull task before its first frame), so RemoveUser and
   * DismissRoom reach it too. Returns the unbind.
   */
  bindTask(ticket: Ticket, remove: (reason: string, cause: RemovalCause) => void): () => void {
    const k = roomKey(ticket);
    const handle: RoomHandle = { ticket, kind: 'task', remove };
    this.addHandle(k, handle);
    return () => this.dropHandle(k, handle);
  }

  /** Everything room control can end in the room: its sessions and bound tasks (none: the room does not exist). */
  handlesOf(room: RoomRef): RoomHandle[] {
    return [...(this.handles.get(roomKey(room)) ?? [])];
  }

  /** SetUserBlocked: what of the user reaches no one from now on, across reconnects; their publishers apply it now. */
  setBlocked(room: RoomRef, userId: string, block: MediaBlock): void {
    const k = roomKey(room);
    this.blocks.set(k, userId, block);
    const r = this.rooms.get(k);
    // only a task bound to the room (a pull task not in it yet): forgotten like an emptied room's unless it joins
    if (!r) this.blocks.roomEmptied(k);
    for (const p of r?.publishers.values() ?? []) if (p.id.userId === userId) p.block(block);
  }

  /** DismissRoom: the room's mutes end with it. */
  forgetBlocks(room: RoomRef): void {
    this.blocks.clearRoom(roomKey(room));
  }

  /** Calls `w` for the room's publishers from now on (not for those already in: see publishersOf); returns the unwatch. */
  watch(room: RoomRef, w: RoomWatcher): () => void {
    const k = roomKey(room);
    let set = this.watchers.get(k);
    if (!set) this.watchers.set(k, (set = new Set()));
    set.add(w);
    return () => {
      set.delete(w);
      if (set.size === 0 && this.watchers.get(k) === set) this.watchers.delete(k);
    };
  }

  /** The room's publishers now, earliest first. */
  publishersOf(room: RoomRef): Publisher[] {
    const r = this.rooms.get(roomKey(room));
    return r ? [...r.publishers.values()].sort((a, b) => a.since.getTime() - b.since.getTime()) : [];
  }

  /** A room by name: a string room unless `numericRoom` (RTMP, WHIP and WHEP name string rooms). */
  get(sdkAppId: number, roomId: string, numericRoom = false): Room | undefined {
    return this.rooms.get(roomKey({ sdkAppId, roomId, numericRoom }));
  }

  /** The room's WHEP viewers now. */
  viewersIn(room: Room): IterableIterator<Viewer> {
    return this.viewers.of(roomKey(room));
  }

  status(room: Room): RoomStatus {
    const k = roomKey(room);
    const users = [...room.publishers.values()].map((p) => ({ ...p.status(), viewers: this.viewers.count(k, p.id.userId) }));
    const audience = [...room.audience].map((s) => ({ userId: s.userId, source: s.source }));
    return { sdkAppId: room.sdkAppId, roomId: room.roomId, type: room.numericRoom ? 'integer' : 'string', users, viewers: this.viewers.count(k), audience };
  }

  /**
   * The publisher a ticket's viewer would watch (the named user, else the earliest in the room), or why there is
   * none. Asked before any ICE work.
   */
  feedFor(ticket: Ticket, wanted?: string): { ok: true; publisher: Publisher } | { ok: false; status: 404; reason: string } {
    requireAction(ticket, 'subscribe');
    const publisher = this.rooms.get(roomKey(ticket))?.pickPublisher(wanted);
    if (publisher) return { ok: true, publisher };
    const reason = wanted ? `user '${wanted}' is not publishing in room '${ticket.roomId}'` : `room '${ticket.roomId}' has no publisher`;
    return { ok: false, status: 404, reason };
  }

  /** The ticket's viewer starts watching `publisher` from a seat in the audience; it leaves at removeViewer. */
  addViewer(ticket: Ticket, viewer: Viewer, publisher: Publisher): void {
    requireAction(ticket, 'subscribe');
    this.viewers.add(roomKey(ticket), viewer);
    this.viewerSeats.set(viewer, this.seat(ticket, 'whep', (reason) => viewer.close(reason)));
    // the publisher may have left while the viewer's offer was answered: then it waits as for a reconnect
    if (publisher.ended) this.viewers.awaitPublisher(viewer);
    else viewer.attach(publisher);
  }

  /**
   * The viewer closed: it is forgotten and leaves the room, with 104 Reason 2 when it timed out (never connected,
   * ICE consent or RTCP lost), Reason 3 when room control removed it.
   */
  removeViewer(room: RoomRef, viewer: Viewer): void {
    this.viewers.remove(roomKey(room), viewer);
    this.viewerSeats.get(viewer)?.leave(viewer.timedOut ? 'timeout' : 'normal');
    this.viewerSeats.delete(viewer);
  }

  list(): Room[] {
    return [...this.rooms.values()];
  }

  /** Ends every session (shutdown). */
  closeAll(reason: string): void {
    this.viewers.closeAll(reason);
    for (const p of [...this.sessions.values()]) {
      p.kick(reason);
      p.end(reason);
    }
  }

  // ---- after a restart: the sessions the previous run left in the member ledger ------------------------------

  /** Counts the previous run's sessions again, silently (start-up, before anyone joins). */
  restoreMembers(records: readonly MemberRecord[]): void {
    this.members.restore(records);
  }

  /** Ends a publisher session of this node with `reason` (a newer session of its userid, here or on another node). */
  kickSession(sessionId: string, reason: string): boolean {
    const old = this.sessions.get(sessionId);
    if (!old || old.ended) return false;
    this.log.info({ sdkAppId: old.id.sdkAppId, userId: old.id.userId, old: old.id.remote }, reason);
    old.kicked = true;
    old.kick(reason);
    old.end(reason);
    return true;
  }

  /**
   * Many nodes: sessions a dead node held leave their rooms with 104 Reason 2 (and 102 for a room left empty, once
   * across the cluster), and their presence is released unless a newer session claimed the userid meanwhile.
   */
  expireForeign(records: ReadonlyArray<MemberRecord & { node: string }>): void {
    for (const r of records) {
      this.members.leaveForeign(r, 'timeout');
      this.releasePresence(r.sdkAppId, r.userId, r.sessionId);
    }
    if (records.length > 0) this.log.info({ sessions: records.length, node: records[0].node }, 'sessions of a dead node left their rooms (104 Reason 2)');
  }

  /**
   * Restored sessions no resumed task took up (`keep`) died with the previous process: their users leave with
   * 104 Reason 2 (and 102 for a room left empty), and their presence is released. Returns how many left.
   */
  expireRestored(keep: ReadonlySet<string>): number {
    const gone = this.members.expireRestored(keep);
    for (const r of gone) this.releasePresence(r.sdkAppId, r.userId, r.sessionId);
    if (gone.length > 0) this.log.info({ sessions: gone.length }, 'sessions of the previous run left their rooms (104 Reason 2)');
    return gone.length;
  }

  /**
   * Many nodes, a drain: the publisher session moves to another node (its pull task, or the mixed relay it publishes
   * for, is handed over). It ends here (viewers here are told), but its user stays in the room for the cluster: no
   * 104, and no 103 when the taker joins under the same session. Returns that session (Rooms.takeUp on the taker).
   */
  handOver(p: Publisher, reason: string): MemberRecord {
    p.handedOver = true;
    p.end(reason);
    const { sessionId, sdkAppId, roomId, numericRoom, userId, source } = p.id;
    return { sessionId, sdkAppId, roomId, numericRoom, userId, role: 'anchor', source };
  }

  /** The same for a resumed task's session that had not joined again yet (counted since restored, no publisher). */
  handOverRestored(ref: RoomRef, userId: string, sessionId: string): void {
    this.members.handOver(ref, userId, sessionId);
  }

  /**
   * Many nodes, a drain: a session another node handed over, counted here before its task joins again (silently:
   * the app was told 103 already), so that the task ending before it joins still makes its user leave (104).
   */
  takeUp(rec: MemberRecord): void {
    this.members.restore([rec]);
  }

  /**
   * A session handed over that no node took up (the taker refused or did not answer): its user leaves the room now
   * (104). It was filed under this node (`node`, by default this one) until the hand-over.
   */
  leaveUntaken(rec: MemberRecord & { node?: string }): void {
    this.members.leaveForeign({ ...rec, node: rec.node ?? this.node!.id }, 'normal');
  }

  /** A restored session its resumed task could not take up again (the task ended first) leaves with `reason`. */
  leaveRestored(ref: RoomRef, userId: string, sessionId: string, reason: ExitReason): void {
    this.members.leave(ref, userId, sessionId, reason);
    this.releasePresence(ref.sdkAppId, userId, sessionId);
  }

  private releasePresence(sdkAppId: number, userId: string, sessionId: string): void {
    void this.store.presence.release(sdkAppId, userId, sessionId).catch((err: unknown) => {
      this.log.warn({ err, sdkAppId, userId }, 'presence release failed');
    });
  }

  private leave(p: Publisher, reason: string): void {
    const { userId, sessionId } = p.id;
    const k = roomKey(p.id);
    this.sessions.delete(sessionId);
    const handle = this.publisherHandles.get(p);
    if (handle) this.dropHandle(k, handle);
    this.publisherHandles.delete(p);
    this.trackWatches.get(p)?.();
    this.trackWatches.delete(p);
    const room = this.rooms.get(k);
    room?.publishers.delete(sessionId);
    this.viewers.publisherLeft(k, userId, p);
    this.watchersOf(k).forEach((w) => w.publisherLeft(p));
    const exitReason: ExitReason = p.kicked ? 'kicked' : p.timedOut ? 'timeout' : 'normal';
    if (p.handedOver) this.members.handOver(p.id, userId, sessionId);
    else this.members.leave(p.id, userId, sessionId, exitReason);
    this.forgetIfEmpty(p.id, room);
    this.releasePresence(p.id.sdkAppId, userId, sessionId);
    this.log.info({ sdkAppId: p.id.sdkAppId, roomId: p.id.roomId, numericRoom: p.id.numericRoom, userId, reason }, 'user left');
  }

  /** The room a session enters, made if it did not exist (101–103 are RoomMembers' to say). */
  private roomFor(ref: RoomRef): Room {
    const k = roomKey(ref);
    let room = this.rooms.get(k);
    if (!room) {
      room = new Room(ref.sdkAppId, ref.roomId, ref.numericRoom);
      this.rooms.set(k, room);
      this.blocks.roomInUse(k);
    }
    return room;
  }

  /** A room left with no session in it is forgotten, and its mutes start their grace window. */
  private forgetIfEmpty(ref: RoomRef, room: Room | undefined): void {
    if (!room || !room.empty) return;
    const k = roomKey(ref);
    if (this.rooms.get(k) === room) this.rooms.delete(k);
    this.blocks.roomEmptied(k);
    this.log.debug({ room: describeRoomRef(ref) }, 'room closed');
  }

  private addHandle(k: string, h: RoomHandle): void {
    let set = this.handles.get(k);
    if (!set) this.handles.set(k, (set = new Set()));
    set.add(h);
  }

  private dropHandle(k: string, h: RoomHandle): void {
    const set = this.handles.get(k);
    set?.delete(h);
    if (set?.size === 0) this.handles.delete(k);
  }

  private watchersOf(k: string): RoomWatcher[] {
    const set = this.watchers.get(k);
    return set ? [...set] : [];
  }
}

/** The IP address of a session's "ip:port" remote (IPv4-mapped IPv6 as IPv4); '' when it is not one (a pull task). */
function clientAddress(remote: string): string {
  const m = /^(.+):\d+$/.exec(remote);
  if (!m || isIP(m[1]!) === 0) return '';
  return m[1]!.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
}
