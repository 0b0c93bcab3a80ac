// The rooms of this gateway, keyed by (sdkAppId, roomId). A room exists while it has users. Publishers and viewers
// come in through here only, each with a ticket from the door (src/room/door.ts). Joining enforces TRTC's rule that
// a userid is in one place at a time per app: the newer session kicks the older one. Who is in a room as TRTC counts
// users (and so 101–105) is kept by RoomMembers: publishers as anchors, WHEP viewers as audience.

import { isIP } from 'node:net';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import { noRoomEvents, type ExitReason, type RoomEventSink } from '../events/room-events.js';
import { Publisher, type PublisherIdentity, type PublisherStatus } from './publisher.js';
import type { MediaEngine } from './engine.js';
import { Viewers } from './viewers.js';
import type { Viewer } from './viewer.js';
import { requireAction, type Door, type Ticket } from './door.js';
import { RoomMembers } from './members.js';
import { trackRefusals } from '../auth/privileges.js';

export interface RoomMediaOptions {
  /** Opus bitrate for AAC sources, bit/s. */
  opusBitrate: number;
  /** libopus complexity (0..10) for AAC sources; the transcoder's default (5) when absent. */
  opusComplexity?: number;
  /** How long viewers of a publisher that left wait for it to publish again. */
  reconnectGraceMs: number;
}

const DEFAULT_MEDIA: RoomMediaOptions = { opusBitrate: 64000, reconnectGraceMs: 10000 };

export interface RoomStatus {
  sdkAppId: number;
  roomId: string;
  users: (PublisherStatus & { viewers: number })[];
  viewers: number;
}

export class Room {
  readonly publishers = new Map<string, Publisher>();
  constructor(
    readonly sdkAppId: number,
    readonly roomId: string,
  ) {}

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
  /** Who is in each room (101–105); made here from `events` when not given (one counting publishers and viewers). */
  members?: RoomMembers;
}

/** The protocol side of a publisher: where it comes from, for logs, status and the kick message. */
export type PublisherSession = Pick<PublisherIdentity, 'source' | 'remote' | 'sessionId'>;

export class Rooms {
  private readonly rooms = new Map<string, Room>();
  /** Local publishers by session id, so a presence record that names one can kick it. */
  private readonly sessions = new Map<string, Publisher>();
  readonly viewers: Viewers;
  /** Where every publisher and viewer is authenticated before its protocol does any work for it. */
  readonly door: Door;
  private readonly media: RoomMediaOptions;
  private readonly store: Store;
  private readonly engine: MediaEngine;
  private readonly log: Logger;
  private readonly events: RoomEventSink;
  private readonly members: RoomMembers;
  private readonly watchers = new Map<string, Set<RoomWatcher>>();
  /** Each WHEP viewer's own userid (the SessionID it played with), for its exit from the room. */
  private readonly viewerUsers = new Map<Viewer, string>();

  constructor(o: RoomsOptions) {
    this.store = o.store;
    this.engine = o.engine;
    this.door = o.door;
    this.log = o.log;
    this.events = o.events ?? noRoomEvents;
    this.members = o.members ?? new RoomMembers(this.events, () => true);
    this.media = { ...DEFAULT_MEDIA, ...o.media };
    this.viewers = new Viewers(this.media.reconnectGraceMs);
  }

  /**
   * Adds the ticket's user as a publisher. `kick` must end the caller's ingest session with the reason (which then
   * calls publisher.end()). Any earlier session of the same userid in this app is kicked first.
   */
  async addPublisher(ticket: Ticket, session: PublisherSession, kick: (reason: string) => void): Promise<Publisher> {
    requireAction(ticket, 'publish');
    const id: PublisherIdentity = { sdkAppId: ticket.sdkAppId, roomId: ticket.roomId, userId: ticket.userId, ...session };
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
    const refused = trackRefusals(ticket.principal.privileges, 'publish');
    const publisher = new Publisher(id, kick, (p, reason) => this.leave(p, reason), this.events, pipe, this.log.child({ userId: id.userId }), refused);
    this.sessions.set(id.sessionId, publisher);
    const roomKey = key(id.sdkAppId, id.roomId);
    publisher.onMedia = (kind) => this.watchersOf(roomKey).forEach((w) => w.publisherMedia(publisher, kind));
    this.roomFor(id.sdkAppId, id.roomId, true)!.publishers.set(id.sessionId, publisher);
    this.members.join(id.sdkAppId, id.roomId, id.userId, id.sessionId, 'anchor', id.source, clientAddress(id.remote) || undefined);
    this.viewers.publisherJoined(roomKey, id.userId, publisher);
    this.watchersOf(roomKey).forEach((w) => w.publisherJoined(publisher));
    this.log.info({ sdkAppId: id.sdkAppId, roomId: id.roomId, userId: id.userId, source: id.source }, 'user joined');
    return publisher;
  }

  /** Calls `w` for the room's publishers from now on (not for those already in: see publishersOf); returns the unwatch. */
  watch(sdkAppId: number, roomId: string, w: RoomWatcher): () => void {
    const k = key(sdkAppId, roomId);
    let set = this.watchers.get(k);
    if (!set) this.watchers.set(k, (set = new Set()));
    set.add(w);
    return () => {
      set.delete(w);
      if (set.size === 0 && this.watchers.get(k) === set) this.watchers.delete(k);
    };
  }

  /** The room's publishers now, earliest first. */
  publishersOf(sdkAppId: number, roomId: string): Publisher[] {
    const room = this.get(sdkAppId, roomId);
    return room ? [...room.publishers.values()].sort((a, b) => a.since.getTime() - b.since.getTime()) : [];
  }

  get(sdkAppId: number, roomId: string): Room | undefined {
    return this.roomFor(sdkAppId, roomId, false);
  }

  status(room: Room): RoomStatus {
    const k = key(room.sdkAppId, room.roomId);
    const users = [...room.publishers.values()].map((p) => ({ ...p.status(), viewers: this.viewers.count(k, p.id.userId) }));
    return { sdkAppId: room.sdkAppId, roomId: room.roomId, users, viewers: this.viewers.count(k) };
  }

  /**
   * The publisher a ticket's viewer would watch (the named user, else the earliest in the room), or why there is
   * none. Asked before any ICE work.
   */
  feedFor(ticket: Ticket, wanted?: string): { ok: true; publisher: Publisher } | { ok: false; status: 404; reason: string } {
    requireAction(ticket, 'subscribe');
    const publisher = this.get(ticket.sdkAppId, ticket.roomId)?.pickPublisher(wanted);
    if (publisher) return { ok: true, publisher };
    const reason = wanted ? `user '${wanted}' is not publishing in room '${ticket.roomId}'` : `room '${ticket.roomId}' has no publisher`;
    return { ok: false, status: 404, reason };
  }

  /**
   * The ticket's viewer starts watching `publisher`, and enters the room as audience (in apps with viewer events);
   * it is forgotten, and leaves, when it closes (removeViewer).
   */
  addViewer(ticket: Ticket, viewer: Viewer, publisher: Publisher): void {
    requireAction(ticket, 'subscribe');
    this.viewers.add(key(ticket.sdkAppId, ticket.roomId), viewer);
    this.viewerUsers.set(viewer, ticket.userId);
    this.members.join(ticket.sdkAppId, ticket.roomId, ticket.userId, viewer.id, 'audience', 'whep');
    // the publisher may have left while the viewer's offer was answered: then it waits as for a reconnect
    if (publisher.ended) this.viewers.awaitPublisher(viewer);
    else viewer.attach(publisher);
  }

  /** A closed viewer leaves: 104 with Reason 2 when it timed out (never connected, consent or RTCP lost). */
  removeViewer(sdkAppId: number, roomId: string, viewer: Viewer): void {
    this.viewers.remove(key(sdkAppId, roomId), viewer);
    const userId = this.viewerUsers.get(viewer);
    if (userId === undefined) return;
    this.viewerUsers.delete(viewer);
    this.members.leave(sdkAppId, roomId, userId, viewer.id, viewer.timedOut ? 'timeout' : 'normal');
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
    const { sdkAppId, roomId, userId, sessionId } = p.id;
    this.sessions.delete(sessionId);
    const room = this.roomFor(sdkAppId, roomId, false);
    room?.publishers.delete(sessionId);
    this.viewers.publisherLeft(key(sdkAppId, roomId), userId, p);
    this.watchersOf(key(sdkAppId, roomId)).forEach((w) => w.publisherLeft(p));
    const exitReason: ExitReason = p.kicked ? 'kicked' : p.timedOut ? 'timeout' : 'normal';
    this.members.leave(sdkAppId, roomId, userId, sessionId, exitReason);
    if (room && room.publishers.size === 0) this.rooms.delete(key(sdkAppId, roomId));
    void this.store.presence.release(sdkAppId, userId, sessionId).catch((err: unknown) => {
      this.log.warn({ err, sdkAppId, userId }, 'presence release failed');
    });
    this.log.info({ sdkAppId, roomId, userId, reason }, 'user left');
  }

  private watchersOf(k: string): RoomWatcher[] {
    const set = this.watchers.get(k);
    return set ? [...set] : [];
  }

  private roomFor(sdkAppId: number, roomId: string, create: boolean): Room | undefined {
    const k = key(sdkAppId, roomId);
    let room = this.rooms.get(k);
    if (!room && create) {
      room = new Room(sdkAppId, roomId);
      this.rooms.set(k, room);
    }
    return room;
  }
}

/** The IP address of a session's "ip:port" remote (IPv4-mapped IPv6 as IPv4); '' when it is not one (a pull task). */
function clientAddress(remote: string): string {
  const m = /^(.+):\d+$/.exec(remote);
  if (!m || isIP(m[1]!) === 0) return '';
  return m[1]!.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
}

function key(sdkAppId: number, roomId: string): string {
  return `${sdkAppId}/${roomId}`;
}
