// Many nodes (store.kind 'redis'): the relays of a node whose lease expired, taken up by the survivor that swept it
// (the sweep claim makes that one node, so a task is never run twice). TRTC's rule for a relay is that it resumes:
// each is started again here under its TaskId from the spec its record keeps, its agent (and FeedBackRoomParams'
// users) let in by this node's door with the UserSigs kept beside it, and it pushes to the same URLs whatever of the
// relayed stream reaches this node (a publisher reconnects here; media does not cross nodes). A relay that cannot
// resume ends as before, each URL with 401 Status 0 and ErrorCode 2: a record from before failover (no spec), a user
// the door no longer lets in (an expired UserSig), or this node being full.

import type { Logger } from '../log.js';
import type { Door, Ticket } from '../room/door.js';
import type { MemberRecord, RelayRecord, TaskStore } from '../store/store.js';
import type { Relays } from './relays.js';
import { decodeResume } from './relay-resume.js';

export interface RelayFailoverOptions {
  relays: Relays;
  store: TaskStore<RelayRecord>;
  door: Door;
  log: Logger;
}

/** Takes up `deadNode`'s running relays; resolves how many run here now (the others ended with their callbacks). */
export async function takeOverRelays(o: RelayFailoverOptions, deadNode: string): Promise<number> {
  let resumed = 0;
  for (const rec of await o.store.list()) {
    if (rec.state !== 'running' || rec.node !== deadNode) continue;
    const why = await resumeOne(o, rec, 'relay resumed from a dead node');
    if (why === null) {
      resumed++;
      continue;
    }
    await o.relays.endRecord(rec, `gateway node ${deadNode} died while relaying, and a surviving node could not resume the task: ${why}`);
  }
  return resumed;
}

/**
 * Many nodes: node `from` drains, stopped the relay's pushes (RelayTask.handOver: no 5/0) and asks this node to push
 * it again, as a dead node's is resumed (401 Status 1, then 2), its users entering under the room sessions `from`
 * handed over (`sessions`: no 104 there, no 103 here). Resolves true once it runs here, else why not (this node
 * drains too, the record is not `from`'s running relay, a user cannot enter, this node is full): the giver then
 * ends it.
 */
export async function takeRelayFromDrain(o: RelayFailoverOptions, taskId: string, from: string, sessions: readonly MemberRecord[] = []): Promise<true | string> {
  if (o.door.isDraining) return 'that node drains too';
  const rec = await o.store.get(taskId);
  if (!rec || rec.state !== 'running' || rec.node !== from || o.relays.runs(taskId)) return `no running relay of node ${from} has that TaskId`;
  return (await resumeOne(o, rec, `relay taken over from node ${from}, which drains`, sessions)) ?? true;
}

/** null once the relay runs here (`logMsg` logged); else why it cannot. */
async function resumeOne(o: RelayFailoverOptions, rec: RelayRecord, logMsg: string, sessions: readonly MemberRecord[] = []): Promise<string | null> {
  const { full } = decodeResume(rec.resume);
  if (!full) return 'its record keeps no spec to start it from (it was started by an older gateway)';
  const { spec, credentials } = full;
  // Door.reenter names rooms as a recording's record does (RoomIdType 1: an integer room)
  const enter = (userId: string, roomId: string, numericRoom: boolean, userSig: string, action: 'subscribe' | 'publish') =>
    o.door.reenter({ sdkAppId: spec.sdkAppId, userId, roomId, roomIdType: numericRoom ? 1 : 0 }, { userSig }, action);
  const agent = enter(spec.agentUserId, spec.roomId, spec.numericRoom, credentials.userSig, 'subscribe');
  if (!agent.ok) return `its agent user ${spec.agentUserId} cannot enter again: ${agent.reason}`;
  const feedback: Ticket[] = [];
  for (const u of credentials.feedback) {
    const e = enter(u.userId, u.roomId, u.numericRoom, u.userSig, 'publish');
    if (!e.ok) return `its FeedBackRoomParams user ${u.userId} cannot enter room ${u.roomId} again: ${e.reason}`;
    feedback.push(e.ticket);
  }
  if ((await o.relays.adopt(rec.taskId, full, agent.ticket, feedback, logMsg, sessions)) === 'limit') {
    return 'the surviving node runs as many relays as relay.maxTasks allows';
  }
  return null;
}
