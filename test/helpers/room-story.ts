// What a callback receiver heard of one room, and the shape every room's story must have, for tests whose rooms
// live through restarts and across nodes.

import type { Test } from 'tap';
import type { CallbackReceiver } from './callback-receiver.js';

/** The delivered callbacks of one room (RoomId in EventInfo), in arrival order. */
export function roomEvents(rx: CallbackReceiver, room: string): any[] {
  return rx.received.map((r) => r.body).filter((b) => String(b.EventInfo?.RoomId) === room);
}

/** 101 first and 102 last, once each; every user's 103 before its 104, each once. */
export function assertRoomStory(t: Test, events: any[], users: string[], label: string): void {
  const types = events.map((e) => e.EventType);
  t.equal(types[0], 101, `${label}: 101 comes first`);
  t.equal(types.at(-1), 102, `${label}: 102 comes last`);
  t.equal(types.filter((x) => x === 101).length, 1, `${label}: one 101`);
  t.equal(types.filter((x) => x === 102).length, 1, `${label}: one 102`);
  for (const u of users) {
    const enter = events.filter((e) => e.EventType === 103 && e.EventInfo.UserId === u);
    const exit = events.filter((e) => e.EventType === 104 && e.EventInfo.UserId === u);
    t.equal(enter.length, 1, `${label}: one 103 for ${u}`);
    t.equal(exit.length, 1, `${label}: one 104 for ${u}`);
    t.ok(events.indexOf(enter[0]) < events.indexOf(exit[0]), `${label}: ${u}'s 103 before its 104`);
  }
}
