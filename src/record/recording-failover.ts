// Many nodes (store.kind 'redis'): a recording whose node died continues on the survivor that swept it, as TRTC's HA
// recovers a task (trtc-egress.md "HA", §2.2): the same TaskId, its recording user entering the room on the survivor,
// new files named `ha<N>_…` (N = how many times the task moved, at most 3), and callback 306 Status 0 once it runs.
//
// What a restart needs is kept in the task's record (RecordingRecord.resume, JSON): the spec (storage included, so
// the survivor uploads to the same place) and the recording user's credentials, which the survivor shows the room's
// door again. A record without them (made by an older run) ends as before. On one node the record is the same; there
// a restart uses only its spec's storage, to upload the files the killed task left (recording-leftovers.ts).

import type { Door, Ticket } from '../room/door.js';
import type { RecordingRecord } from '../store/store.js';
import type { RecordingChanges, RecordingSpec } from '../api/cloud-recording-service.js';
import type { TaskCredentials } from '../api/stream-ingest-service.js';

/** TRTC names at most ha1_ … ha3_: a task that would move a fourth time ends instead. */
export const MAX_MOVES = 3;

/** What a recording's record keeps so another node can run it (RecordingRecord.resume). */
export interface RecordingResume {
  spec: RecordingSpec;
  credentials: TaskCredentials;
  /** How many times the task has moved to another node (0 where it was created). */
  moves: number;
  /** The last ModifyCloudRecording, which a task moved elsewhere starts with. */
  modified?: RecordingChanges;
}

export function resumeText(r: RecordingResume): string {
  return JSON.stringify(r);
}

export function readResume(rec: RecordingRecord): RecordingResume | null {
  if (!rec.resume) return null;
  try {
    const r = JSON.parse(rec.resume) as Partial<RecordingResume>;
    return r.spec && r.credentials && typeof r.moves === 'number' ? (r as RecordingResume) : null;
  } catch {
    return null;
  }
}

/** The prefix of the files a task writes after `moves` moves: '' where it was created, then `ha1_`, `ha2_`, `ha3_`. */
export function haPrefix(moves: number): string {
  return moves > 0 ? `ha${moves}_` : '';
}

/** How a dead node's running recording is taken up: started here, or why it ends. */
export type TakeOver =
  | { run: true; spec: RecordingSpec; ticket: Ticket; resume: RecordingResume }
  | { run: false; why: string };

/** What the survivor's recording service lends the take-over. */
export interface TakeOverHost {
  list(): Promise<RecordingRecord[]>;
  /** Why this node cannot run one more recording (its limit), or null. */
  full(): string | null;
  /** Runs the task here under its TaskId, started with `spec` and moved `resume.moves` times. */
  run(rec: RecordingRecord, spec: RecordingSpec, ticket: Ticket, resume: RecordingResume): Promise<void>;
  /** Ends it as a task its node was killed under is ended (302 LeaveCode 3), saying why it could not continue. */
  end(rec: RecordingRecord, why: string): Promise<void>;
}

/**
 * The running recordings of `owner`, a dead node this one swept: each continues here or ends. The sweep's claim
 * (cluster.ts) makes this node the only one doing it, so a task is never taken up twice. Resolves how many continue.
 */
export async function takeOverRecordings(host: TakeOverHost, door: Door, owner: string): Promise<number> {
  let n = 0;
  for (const rec of await host.list()) {
    if (rec.state !== 'running' || rec.node !== owner) continue;
    const why = await takeOverOne(host, door, rec);
    if (why === null) n++;
    else await host.end(rec, why);
  }
  return n;
}

/**
 * One record run here under its TaskId: a dead node's (above), or one a draining node stopped and handed over
 * (Recordings.takeFromDrain). Resolves null once it runs, or why it cannot (the caller ends it).
 */
export async function takeOverOne(host: Pick<TakeOverHost, 'full' | 'run'>, door: Door, rec: RecordingRecord): Promise<string | null> {
  const full = host.full();
  const plan: TakeOver = full ? { run: false, why: full } : planTakeOver(rec, door);
  if (!plan.run) return plan.why;
  // a single-stream task starts with the lists of the last Modify; a mix's layout is applied once it runs
  const modified = plan.resume.modified;
  await host.run(rec, modified ? { ...plan.spec, subscribe: modified.subscribe } : plan.spec, plan.ticket, plan.resume);
  return null;
}

/**
 * Decides one record of a dead or draining node: it runs here when it kept its spec and credentials, has moved fewer than three
 * times, and its recording user is let in again by the door (an expired UserSig is not: TRTC asks for a UserSig valid
 * longer than the task for this reason).
 */
function planTakeOver(rec: RecordingRecord, door: Door): TakeOver {
  const saved = readResume(rec);
  if (!saved) return { run: false, why: 'it kept no spec and credentials to continue elsewhere' };
  if (saved.moves >= MAX_MOVES) return { run: false, why: `it has already moved ${MAX_MOVES} times, the most TRTC allows` };
  const entry = door.reenter(rec, saved.credentials, 'subscribe');
  if (!entry.ok) return { run: false, why: `its recording user cannot enter the room again: ${entry.reason}` };
  return { run: true, spec: saved.spec, ticket: entry.ticket, resume: { ...saved, moves: saved.moves + 1 } };
}
