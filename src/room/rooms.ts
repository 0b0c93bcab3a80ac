// The rooms of this gateway, keyed by (sdkAppId, room type, roomId): an integer room and a string room with the same
// digits are two rooms (src/room/room-ref.ts). A room exists while someone is in it: publishers (anchors), and the
// audience — WHEP viewers and the agent users of recording and relay tasks. Everyone comes in through here with a
// ticket from the door (src/room/door.ts). Joining enforces TRTC's rule that a userid publishes in one place at a time
// per app: the newer session kicks the older one.
//
// Every session in a room, and every task bound to one (a pull task before its first frame), is also a member that
// room control (src/room/room-control.ts) can end: RemoveUser, DismissRoom.

import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import { noRoomEvents, type ExitReason, type RoomEventSink } from '../events/room-events.js';
import { Publisher, type MediaBlock, type PublisherIdentity, type PublisherStatus } from './publisher.js';
import type { MediaEngine } from './engine.js';
import { Viewers } from './viewers.js';
import type { Viewer } from './viewer.js';
import { requireAction, type Door, type Ticket } from './door.js';
import { roomKey, describeRoomRef, type RoomRef } from './room-ref.js';
import { UserBlocks } from './user-blocks.js';

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

/** One audience member's place in a room; leave() says why they went (104 Role 21). */
export interface Seat {
  readonly userId: string;
  readonly source: AudienceSource;
  leave(reason: ExitReason): void;
}

/** Why room control ends a member: RemoveUser named the user, or DismissRoom closed the room. */
export type RemovalCause = 'removed' | 'dismissed';

/** A session or task room control can end: its user is removed (104 Reason 3), its task ends with its own callbacks. */
export interface RoomMember {
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
}

/** The protocol side of a publisher: where it comes from, for logs, status and the kick message. */
export type PublisherSession = Pick<PublisherIdentity, 'source' | 'remote' | 'sessionId'>;

export class Rooms {
  private readonly rooms = new Map<string, Room>();
  /** Local publishers by session id, so a presence record that names one can kick it. */
  private readonly sessions = new Map<string, Publisher>();
  /** What room control can end, by room key (src/room/room-ref.ts). */
  private readonly members = new Map<string, Set<RoomMember>>();
  private readonly publisherMembers = new Map<Publisher, RoomMember>();
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
  private readonly watchers = new Map<string, Set<RoomWatcher>>();

  constructor(o: RoomsOptions) {
    this.store = o.store;
    this.engine = o.engine;
    this.door = o.door;
    this.log = o.log;
    this.events = o.events ?? noRoomEvents;
    this.media = { ...DEFAULT_MEDIA, ...o.media };
    this.viewers = new Viewers(this.media.reconnectGraceMs);
    this.blocks = new UserBlocks(this.media.reconnectGraceMs);
  }

  /**
   * Adds the ticket's user as a publisher. `kick` must end the caller's ingest session with the reason (which then
   * calls publisher.end()). Any earlier session of the same userid in this app is kicked first.
   */
  async addPublisher(ticket: Ticket, session: PublisherSession, kick: (reason: string) => void): Promise<Publisher> {
    requireAction(ticket, 'publish');
    const id: PublisherIdentity = { sdkAppId: ticket.sdkAppId, roomId: ticket.roomId, numericRoom: ticket.numericRoom, userId: ticket.userId, ...session };
    const previous = await this.store.presence.claim({
      sdkAppId: id.sdkAppId,
      userId: id.userId,
      roomId: id.roomId,
      sessionId: id.sessionId,
      source: id.source,
      since: Date.now(),
    });
    if (previous) {
      const old = this.sessions.get(previous.sessionId);
      if (old && !old.ended) {
        const ip = id.remote.replace(/:\d+$/, '');
        const reason = `kicked: the same userid published again from ${ip}`;
        this.log.info({ sdkAppId: id.sdkAppId, userId: id.userId, old: old.id.remote, new: id.remote }, reason);
        old.kicked = true;
        old.kick(reason);
        old.end(reason);
      }
    }
    const pipe = this.engine.openPipe({ opusBitrate: this.media.opusBitrate, opusComplexity: this.media.opusComplexity ?? 5 });
    const publisher = new Publisher(id, kick, (p, reason) => this.leave(p, reason), this.events, pipe, this.log.child({ userId: id.userId }));
    const k = roomKey(ticket);
    const blocked = this.blocks.get(k, id.userId);
    if (blocked.audio || blocked.video) publisher.block(blocked); // muted before it (re)joined: nothing started yet
    this.sessions.set(id.sessionId, publisher);
    const member: RoomMember = {
      ticket,
      kind: 'publisher',
      remove: (reason) => {
        publisher.kicked = true;
        publisher.kick(reason); // an RTMP encoder reads the reason as onStatus before the socket closes
        publisher.end(reason);
      },
    };
    this.addMember(k, member);
    this.publisherMembers.set(publisher, member);
    publisher.onMedia = (kind) => this.watchersOf(k).forEach((w) => w.publisherMedia(publisher, kind));
    this.enterRoom(ticket, id.userId, 'anchor', id.source).publishers.set(id.sessionId, publisher);
    this.viewers.publisherJoined(k, id.userId, publisher);
    this.watchersOf(k).forEach((w) => w.publisherJoined(publisher));
    this.log.info({ sdkAppId: id.sdkAppId, roomId: id.roomId, numericRoom: id.numericRoom, userId: id.userId, source: id.source }, 'user joined');
    return publisher;
  }

  /**
   * Seats the ticket's user in the audience (103 Role 21; 101 first if the room is new). `remove` must end the
   * session or task, which then calls seat.leave().
   */
  seat(ticket: Ticket, source: AudienceSource, remove: (reason: string, cause: RemovalCause) => void): Seat {
    const k = roomKey(ticket);
    let member: RoomMember | null = null;
    let exitReason: ExitReason | null = null;
    const seat: Seat = {
      userId: ticket.userId,
      source,
      leave: (reason) => {
        if (!member) return;
        this.dropMember(k, member);
        member = null;
        const room = this.rooms.get(k);
        room?.audience.delete(seat);
        this.exitRoom(ticket, ticket.userId, 'audience', exitReason ?? reason, room);
      },
    };
    member = {
      ticket,
      kind: 'audience',
      remove: (reason, cause) => {
        exitReason = 'kicked';
        remove(reason, cause);
        seat.leave('kicked'); // in case `remove` did not
      },
    };
    this.addMember(k, member);
    this.enterRoom(ticket, ticket.userId, 'audience', source).audience.add(seat);
    return seat;
  }

  /**
   * A task bound to the room that is not in it yet (a pull task before its first frame), so RemoveUser and
   * DismissRoom reach it too. Returns the unbind.
   */
  bindTask(ticket: Ticket, remove: (reason: string, cause: RemovalCause) => void): () => void {
    const k = roomKey(ticket);
    const member: RoomMember = { ticket, kind: 'task', remove };
    this.addMember(k, member);
    return () => this.dropMember(k, member);
  }

  /** Everyone room control can end in the room: its sessions and bound tasks (none: the room does not exist). */
  membersOf(room: RoomRef): RoomMember[] {
    return [...(this.members.get(roomKey(room)) ?? [])];
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

  /** The viewer closed: it is forgotten and leaves the room. */
  removeViewer(room: RoomRef, viewer: Viewer): void {
    this.viewers.remove(roomKey(room), viewer);
    this.viewerSeats.get(viewer)?.leave('normal');
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

  private leave(p: Publisher, reason: string): void {
    const { userId, sessionId } = p.id;
    const k = roomKey(p.id);
    this.sessions.delete(sessionId);
    const member = this.publisherMembers.get(p);
    if (member) this.dropMember(k, member);
    this.publisherMembers.delete(p);
    const room = this.rooms.get(k);
    room?.publishers.delete(sessionId);
    this.viewers.publisherLeft(k, userId, p);
    this.watchersOf(k).forEach((w) => w.publisherLeft(p));
    const exitReason: ExitReason = p.kicked ? 'kicked' : p.timedOut ? 'timeout' : 'normal';
    this.exitRoom(p.id, userId, 'anchor', exitReason, room);
    void this.store.presence.release(p.id.sdkAppId, userId, sessionId).catch((err: unknown) => {
      this.log.warn({ err, sdkAppId: p.id.sdkAppId, userId }, 'presence release failed');
    });
    this.log.info({ sdkAppId: p.id.sdkAppId, roomId: p.id.roomId, numericRoom: p.id.numericRoom, userId, reason }, 'user left');
  }

  /** The room the user enters (made, with 101, if it did not exist), after 103. */
  private enterRoom(ref: RoomRef, userId: string, role: 'anchor' | 'audience', source: string): Room {
    const k = roomKey(ref);
    const base = { sdkAppId: ref.sdkAppId, roomId: ref.roomId, numericRoom: ref.numericRoom, at: Date.now() };
    let room = this.rooms.get(k);
    if (!room) {
      room = new Room(ref.sdkAppId, ref.roomId, ref.numericRoom);
      this.rooms.set(k, room);
      this.blocks.roomInUse(k);
      this.events.emit({ ...base, type: 'room-created', userId });
    }
    this.events.emit({ ...base, type: 'user-entered', userId, role, source });
    return room;
  }

  /** 104 for the user, and 102 when the room is left empty (it is then forgotten). */
  private exitRoom(ref: RoomRef, userId: string, role: 'anchor' | 'audience', reason: ExitReason, room: Room | undefined): void {
    const base = { sdkAppId: ref.sdkAppId, roomId: ref.roomId, numericRoom: ref.numericRoom, at: Date.now() };
    this.events.emit({ ...base, type: 'user-exited', userId, role, reason });
    if (!room || !room.empty) return;
    const k = roomKey(ref);
    if (this.rooms.get(k) === room) this.rooms.delete(k);
    this.blocks.roomEmptied(k);
    this.events.emit({ ...base, type: 'room-dismissed' });
    this.log.debug({ room: describeRoomRef(ref) }, 'room closed');
  }

  private addMember(k: string, m: RoomMember): void {
    let set = this.members.get(k);
    if (!set) this.members.set(k, (set = new Set()));
    set.add(m);
  }

  private dropMember(k: string, m: RoomMember): void {
    const set = this.members.get(k);
    set?.delete(m);
    if (set?.size === 0) this.members.delete(k);
  }

  private watchersOf(k: string): RoomWatcher[] {
    const set = this.watchers.get(k);
    return set ? [...set] : [];
  }
}
