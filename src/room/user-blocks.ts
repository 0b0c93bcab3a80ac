// What SetUserBlocked keeps from a room: per room and user, the kinds (audio, video) that reach no one. A block
// outlives the user's session, so a publisher who reconnects (OBS does on its own) stays muted; it ends with an
// unmute, a DismissRoom, or once the room has stayed empty for the reconnect grace window.

import { NOTHING_BLOCKED, type MediaBlock } from './publisher.js';

export class UserBlocks {
  /** Blocks by room key, then user id. Only users with something blocked are kept. */
  private readonly byRoom = new Map<string, Map<string, MediaBlock>>();
  /** Rooms that emptied, each with the timer that forgets their blocks. */
  private readonly forgetting = new Map<string, NodeJS.Timeout>();

  constructor(private readonly lingerMs: number) {}

  get(roomKey: string, userId: string): MediaBlock {
    return this.byRoom.get(roomKey)?.get(userId) ?? NOTHING_BLOCKED;
  }

  set(roomKey: string, userId: string, block: MediaBlock): void {
    let users = this.byRoom.get(roomKey);
    if (!block.audio && !block.video) {
      users?.delete(userId);
      if (users?.size === 0) this.clearRoom(roomKey);
      return;
    }
    if (!users) this.byRoom.set(roomKey, (users = new Map()));
    users.set(userId, { audio: block.audio, video: block.video });
  }

  clearRoom(roomKey: string): void {
    this.byRoom.delete(roomKey);
    const t = this.forgetting.get(roomKey);
    if (t) clearTimeout(t);
    this.forgetting.delete(roomKey);
  }

  /** The room has no one in it: its blocks are forgotten unless someone comes back within the grace window. */
  roomEmptied(roomKey: string): void {
    if (!this.byRoom.has(roomKey) || this.forgetting.has(roomKey)) return;
    const t = setTimeout(() => this.clearRoom(roomKey), this.lingerMs);
    t.unref();
    this.forgetting.set(roomKey, t);
  }

  roomInUse(roomKey: string): void {
    const t = this.forgetting.get(roomKey);
    if (t) clearTimeout(t);
    this.forgetting.delete(roomKey);
  }
}
