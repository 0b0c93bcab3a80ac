// FeedBackRoomParams of a mixed relay (trtc-egress.md §4.3): the mixed picture enters up to 10 rooms as a user, so
// the rooms' viewers (WHEP) see and hear the mix, recordings and relays of those rooms can take it, and the rooms'
// callbacks announce that user like any other (103/104 as an anchor, 201/203 when its media starts). The user
// publishes through the rooms' one door for publishers (Rooms.addPublisher, source 'relay'), its UserSig checked by
// the API like the agent's; each gets the compositor's frames through the mixed feed's outputs.
//
// A user fed back into the task's own room would be mixed into itself: the relay leaves these users out of the mix
// (isFeedback). RemoveUser of one ends that user's session only; the relay goes on, the others too.
//
// With many nodes, a drain hands the users over with the relay (handOver: no 104), and the taker's users publish
// under the sessions handed over (TakenSessions: no 103).

import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { Ticket } from '../room/door.js';
import type { Publisher } from '../room/publisher.js';
import type { Rooms } from '../room/rooms.js';
import { roomKey, type RoomRef } from '../room/room-ref.js';
import type { TakenSessions } from '../room/taken-sessions.js';
import type { MemberRecord } from '../store/store.js';
import type { MixedFeed } from '../record/mixed-feed.js';

interface Entry {
  ticket: Ticket;
  publisher: Publisher | null;
  gone: boolean;
}

export class FeedBackRooms {
  private readonly entries = new Map<string, Entry>();
  private feed: MixedFeed | null = null;

  constructor(
    private readonly o: { rooms: Rooms; taskId: string; log: Logger },
  ) {}

  /**
   * The users the mix enters as: ones that stay keep their sessions, others leave, new ones join now (under the
   * sessions a drain's giver handed over, when `taken` has them).
   */
  set(tickets: readonly Ticket[], taken?: TakenSessions): void {
    const wanted = new Map(tickets.map((t) => [keyOf(t, t.userId), t]));
    for (const [k, e] of this.entries) if (!wanted.has(k)) this.leave(k, e, 'removed from FeedBackRoomParams by UpdatePublishCdnStream');
    for (const [k, t] of wanted) if (!this.entries.has(k)) this.join(k, t, taken?.claim(t, t.userId, 'anchor'));
  }

  /** The compositor's output: every user fed back gets its configs and frames from now on. */
  attach(feed: MixedFeed): void {
    this.feed = feed;
    for (const e of this.entries.values()) if (e.publisher) feed.addOutput(e.publisher);
  }

  /** One of this relay's users in `room`: the mix leaves it out. */
  isFeedback(room: RoomRef, userId: string): boolean {
    return this.entries.has(keyOf(room, userId));
  }

  stop(reason: string): void {
    for (const [k, e] of this.entries) this.leave(k, e, reason);
  }

  /**
   * A drain: the users in their rooms move with the relay to another node (Rooms.handOver: no 104); resolves their
   * sessions, for the taker. One still joining leaves as at stop() (104), and joins anew there.
   */
  handOver(reason: string): MemberRecord[] {
    const handed: MemberRecord[] = [];
    for (const [k, e] of this.entries) {
      if (!e.publisher) {
        this.leave(k, e, reason);
        continue;
      }
      this.entries.delete(k);
      e.gone = true;
      this.feed?.removeOutput(e.publisher);
      handed.push(this.o.rooms.handOver(e.publisher, reason));
    }
    return handed;
  }

  /** `taken`: the session a drain's giver handed over, counted here already (TakenSessions). */
  private join(k: string, ticket: Ticket, taken?: string): void {
    const entry: Entry = { ticket, publisher: null, gone: false };
    this.entries.set(k, entry);
    const remote = `mixed relay ${this.o.taskId.slice(0, 12)}`;
    this.o.rooms
      .addPublisher(ticket, { source: 'relay', remote, sessionId: taken ?? randomUUID() }, (reason) => {
        // RemoveUser, DismissRoom, or the same userid publishing elsewhere: this user's session ends, the relay stays
        if (this.entries.get(k) === entry) this.leave(k, entry, reason);
      })
      .then((publisher) => {
        if (entry.gone) return publisher.end('the relay ended while its user joined');
        entry.publisher = publisher;
        this.feed?.addOutput(publisher);
        this.o.log.info({ roomId: ticket.roomId, userId: ticket.userId }, 'the mix entered a room');
      })
      .catch((err: unknown) => {
        this.entries.delete(k);
        // handed over by a drain's giver, counted here since: the user leaves (104)
        if (taken) this.o.rooms.leaveRestored(ticket, ticket.userId, taken, 'normal');
        this.o.log.warn({ roomId: ticket.roomId, userId: ticket.userId, err: (err as Error).message }, 'the mix could not enter a room');
      });
  }

  private leave(k: string, e: Entry, reason: string): void {
    this.entries.delete(k);
    e.gone = true;
    if (!e.publisher) return;
    this.feed?.removeOutput(e.publisher);
    e.publisher.end(reason);
  }
}

function keyOf(room: RoomRef, userId: string): string {
  return `${roomKey(room)}|${userId}`;
}
