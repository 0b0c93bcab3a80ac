// The history (history.ts) in the gateway's SQLite file: a row per room life, per user session, per event and per
// media sample. Writes find the open room or session they belong to through partial indexes on the open rows.

import type { SqliteDatabase, SqliteFile } from './sqlite.js';
import type {
  CallKey, DayScale, HistoryEntry, HistoryExitReason, HistoryRole, HistoryStore, MediaSample, Page, RoomRecord, SampleRecord,
  SessionRecord, TimeRange, UserEventKind, UserEventRecord,
} from './history.js';

const DAY_MS = 86_400_000;
/** A room's name with its type, for counting distinct rooms (integer 123 and string "123" are two). */
const ROOM_NAME = "(r.room_id || char(0) || coalesce(r.numeric_room, 'unknown'))";

/** Schema steps (sqlite.ts migrate): append, never edit. Exported for the test that upgrades a version-1 file. */
export const HISTORY_MIGRATIONS = [
  `CREATE TABLE history_rooms (
     id INTEGER PRIMARY KEY,
     sdk_app_id INTEGER NOT NULL,
     room_id TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     destroyed_at INTEGER,
     creator TEXT NOT NULL
   );
   CREATE INDEX history_rooms_by_time ON history_rooms (sdk_app_id, created_at);
   CREATE INDEX history_rooms_open ON history_rooms (sdk_app_id, room_id) WHERE destroyed_at IS NULL;
   CREATE TABLE history_sessions (
     id INTEGER PRIMARY KEY,
     room INTEGER NOT NULL REFERENCES history_rooms (id) ON DELETE CASCADE,
     user_id TEXT NOT NULL,
     source TEXT NOT NULL,
     role TEXT NOT NULL,
     address TEXT NOT NULL,
     joined_at INTEGER NOT NULL,
     left_at INTEGER,
     exit_reason TEXT
   );
   CREATE INDEX history_sessions_by_room ON history_sessions (room, joined_at);
   CREATE INDEX history_sessions_by_left ON history_sessions (left_at);
   CREATE INDEX history_sessions_open ON history_sessions (room, user_id) WHERE left_at IS NULL;
   CREATE TABLE history_events (
     session INTEGER NOT NULL REFERENCES history_sessions (id) ON DELETE CASCADE,
     at INTEGER NOT NULL,
     kind TEXT NOT NULL,
     reason TEXT,
     width INTEGER,
     height INTEGER
   );
   CREATE INDEX history_events_by_session ON history_events (session, at);
   CREATE INDEX history_events_by_time ON history_events (at);
   CREATE TABLE history_samples (
     session INTEGER NOT NULL REFERENCES history_sessions (id) ON DELETE CASCADE,
     at INTEGER NOT NULL,
     video_codec TEXT,
     width INTEGER,
     height INTEGER,
     fps REAL,
     video_bps INTEGER,
     video_loss REAL,
     audio_codec TEXT,
     audio_bps INTEGER,
     audio_loss REAL
   );
   CREATE INDEX history_samples_by_session ON history_samples (session, at);
   CREATE INDEX history_samples_by_time ON history_samples (at);`,
  // 2: the room's type. Integer room 123 and string room "123" are two rooms (src/room/room-ref.ts); version 1 kept
  // only the name, so they shared rows. Rows written then get the type where it can be known: a name that is no
  // integer (a non-digit, a leading zero, more than 10 digits) or a room an RTMP, WHIP or WHEP user was in (those
  // name string rooms only) was a string room; the rest (digits, entered only by API tasks) stays NULL, unknown, and
  // answers as an integer room (the CommId without quotes) until retention prunes it.
  `ALTER TABLE history_rooms ADD COLUMN numeric_room INTEGER;
   UPDATE history_rooms SET numeric_room = 0
     WHERE room_id GLOB '*[^0-9]*' OR room_id GLOB '0*' OR length(room_id) > 10
        OR EXISTS (SELECT 1 FROM history_sessions s WHERE s.room = history_rooms.id AND s.source IN ('rtmp', 'whip', 'whep'));
   DROP INDEX history_rooms_open;
   CREATE INDEX history_rooms_open ON history_rooms (sdk_app_id, room_id, numeric_room) WHERE destroyed_at IS NULL;`,
];

interface RoomRow {
  sdk_app_id: number;
  room_id: string;
  numeric_room: number | null;
  created_at: number;
  destroyed_at: number | null;
  creator: string;
}

interface SessionRow {
  sdk_app_id: number;
  room_id: string;
  created_at: number;
  user_id: string;
  source: string;
  role: string;
  address: string;
  joined_at: number;
  left_at: number | null;
  exit_reason: string | null;
}

interface SampleRow {
  sdk_app_id: number;
  room_id: string;
  numeric_room: number | null;
  user_id: string;
  source: string;
  at: number;
  video_codec: string | null;
  width: number | null;
  height: number | null;
  fps: number | null;
  video_bps: number | null;
  video_loss: number | null;
  audio_codec: string | null;
  audio_bps: number | null;
  audio_loss: number | null;
}

/**
 * The rows of one call (CommId): the app's lives of the room created in that second, of the room's type (a room of
 * unknown type, written before schema 2, answers as an integer room).
 */
const CALL = `r.sdk_app_id = @sdkAppId AND r.room_id = @roomId AND r.created_at BETWEEN @createdFrom AND @createdTo
  AND (r.numeric_room = @numeric OR (@numeric = 1 AND r.numeric_room IS NULL))`;

export class SqliteHistory implements HistoryStore {
  private readonly db: SqliteDatabase;
  private readonly q;

  constructor(file: SqliteFile) {
    file.migrate('history', HISTORY_MIGRATIONS);
    this.db = file.db;
    const db = this.db;
    this.q = {
      openRoom: db.prepare<[number, string, number], { id: number }>(
        'SELECT id FROM history_rooms WHERE sdk_app_id = ? AND room_id = ? AND numeric_room = ? AND destroyed_at IS NULL ORDER BY id DESC LIMIT 1'),
      insertRoom: db.prepare('INSERT INTO history_rooms (sdk_app_id, room_id, numeric_room, created_at, creator) VALUES (?, ?, ?, ?, ?)'),
      closeRoom: db.prepare('UPDATE history_rooms SET destroyed_at = ? WHERE id = ?'),
      closeRoomSessions: db.prepare('UPDATE history_sessions SET left_at = ? WHERE room = ? AND left_at IS NULL'),
      // The oldest open one: a user with several sessions in a room (viewers of one userid) leaves them in order.
      openSession: db.prepare<[number, string], { id: number }>(
        'SELECT id FROM history_sessions WHERE room = ? AND user_id = ? AND left_at IS NULL ORDER BY id LIMIT 1'),
      insertSession: db.prepare(
        'INSERT INTO history_sessions (room, user_id, source, role, address, joined_at) VALUES (?, ?, ?, ?, ?, ?)'),
      closeSession: db.prepare('UPDATE history_sessions SET left_at = ?, exit_reason = ? WHERE id = ?'),
      insertEvent: db.prepare('INSERT INTO history_events (session, at, kind, reason, width, height) VALUES (?, ?, ?, ?, ?, ?)'),
      lastSize: db.prepare<[number], { width: number | null; height: number | null }>(
        'SELECT width, height FROM history_samples WHERE session = ? AND width IS NOT NULL ORDER BY at DESC LIMIT 1'),
      insertSample: db.prepare(
        `INSERT INTO history_samples (session, at, video_codec, width, height, fps, video_bps, video_loss, audio_codec, audio_bps, audio_loss)
         VALUES (@session, @at, @videoCodec, @width, @height, @fps, @videoBps, @videoLoss, @audioCodec, @audioBps, @audioLoss)`),
    };
    this.closeDangling();
  }

  async write(e: HistoryEntry): Promise<void> {
    this.db.transaction(() => this.apply(e))();
  }

  async sample(s: MediaSample): Promise<void> {
    this.db.transaction(() => {
      const session = this.sessionOf(s, s.userId);
      if (session === undefined) return;
      const v = s.video;
      if (v) {
        // A new picture size is an event of its own (TRTC's 4007): compared with the session's previous sample.
        const last = this.q.lastSize.get(session);
        if (last && (last.width !== v.width || last.height !== v.height)) {
          this.q.insertEvent.run(session, s.at, 'resolution', null, v.width, v.height);
        }
      }
      this.q.insertSample.run({
        session,
        at: s.at,
        videoCodec: v?.codec ?? null,
        width: v?.width ?? null,
        height: v?.height ?? null,
        fps: v?.fps ?? null,
        videoBps: v ? Math.round(v.bitrate) : null,
        videoLoss: v?.loss ?? null,
        audioCodec: s.audio?.codec ?? null,
        audioBps: s.audio ? Math.round(s.audio.bitrate) : null,
        audioLoss: s.audio?.loss ?? null,
      });
    })();
  }

  async rooms(q: TimeRange & { sdkAppId: number; roomId?: string; offset: number; limit: number }): Promise<Page<RoomRecord>> {
    const where = `sdk_app_id = @sdkAppId AND created_at <= @to AND (destroyed_at IS NULL OR destroyed_at >= @from)
      ${q.roomId !== undefined ? 'AND room_id = @roomId' : ''}`;
    const args = { sdkAppId: q.sdkAppId, from: q.from, to: q.to, ...(q.roomId !== undefined ? { roomId: q.roomId } : {}) };
    const total = (this.db.prepare(`SELECT count(*) AS n FROM history_rooms WHERE ${where}`).get(args) as { n: number }).n;
    const rows = this.db
      .prepare(`SELECT sdk_app_id, room_id, numeric_room, created_at, destroyed_at, creator FROM history_rooms WHERE ${where}
                ORDER BY created_at, id LIMIT @limit OFFSET @offset`)
      .all({ ...args, limit: q.limit, offset: q.offset }) as RoomRow[];
    return {
      total,
      items: rows.map((r) => ({
        sdkAppId: r.sdk_app_id,
        roomId: r.room_id,
        numericRoom: r.numeric_room === null ? null : r.numeric_room === 1,
        createdAt: r.created_at,
        destroyedAt: r.destroyed_at,
        creator: r.creator,
      })),
    };
  }

  async call(key: CallKey): Promise<{ createdAt: number; destroyedAt: number | null } | undefined> {
    const row = this.db
      .prepare(`SELECT min(created_at) AS created, max(destroyed_at) AS destroyed, count(*) AS n, count(destroyed_at) AS closed
                FROM history_rooms r WHERE ${CALL}`)
      .get(callArgs(key)) as { created: number | null; destroyed: number | null; n: number; closed: number };
    if (row.n === 0 || row.created === null) return undefined;
    return { createdAt: row.created, destroyedAt: row.closed === row.n ? row.destroyed : null };
  }

  async sessions(q: TimeRange & { call: CallKey; userIds?: readonly string[]; offset: number; limit: number }): Promise<Page<SessionRecord>> {
    const users = q.userIds ? `AND s.user_id IN (SELECT value FROM json_each(@users))` : '';
    const where = `${CALL} AND s.joined_at <= @to AND (s.left_at IS NULL OR s.left_at >= @from) ${users}`;
    const args = { ...callArgs(q.call), from: q.from, to: q.to, ...(q.userIds ? { users: JSON.stringify(q.userIds) } : {}) };
    const from = 'FROM history_sessions s JOIN history_rooms r ON r.id = s.room';
    const total = (this.db.prepare(`SELECT count(*) AS n ${from} WHERE ${where}`).get(args) as { n: number }).n;
    const rows = this.db
      .prepare(`SELECT r.sdk_app_id, r.room_id, r.created_at, s.user_id, s.source, s.role, s.address, s.joined_at, s.left_at, s.exit_reason
                ${from} WHERE ${where} ORDER BY s.joined_at, s.id LIMIT @limit OFFSET @offset`)
      .all({ ...args, limit: q.limit, offset: q.offset }) as SessionRow[];
    return {
      total,
      items: rows.map((r) => ({
        sdkAppId: r.sdk_app_id,
        roomId: r.room_id,
        roomCreatedAt: r.created_at,
        userId: r.user_id,
        source: r.source,
        role: r.role as HistoryRole,
        address: r.address,
        joinedAt: r.joined_at,
        leftAt: r.left_at,
        exitReason: r.exit_reason as HistoryExitReason | null,
      })),
    };
  }

  async userEvents(q: TimeRange & { call: CallKey; userId: string }): Promise<UserEventRecord[]> {
    const rows = this.db
      .prepare(`SELECT e.at, e.kind, e.reason, e.width, e.height
                FROM history_events e JOIN history_sessions s ON s.id = e.session JOIN history_rooms r ON r.id = s.room
                WHERE ${CALL} AND s.user_id = @userId AND e.at BETWEEN @from AND @to ORDER BY e.at, e.rowid`)
      .all({ ...callArgs(q.call), userId: q.userId, from: q.from, to: q.to }) as {
      at: number; kind: string; reason: string | null; width: number | null; height: number | null;
    }[];
    return rows.map((r) => ({ at: r.at, kind: r.kind as UserEventKind, reason: r.reason as HistoryExitReason | null, width: r.width, height: r.height }));
  }

  async samples(q: TimeRange & { call: CallKey; userIds: readonly string[] }): Promise<SampleRecord[]> {
    const rows = this.db
      .prepare(`SELECT r.sdk_app_id, r.room_id, r.numeric_room, s.user_id, s.source, m.*
                FROM history_samples m JOIN history_sessions s ON s.id = m.session JOIN history_rooms r ON r.id = s.room
                WHERE ${CALL} AND s.user_id IN (SELECT value FROM json_each(@users)) AND m.at BETWEEN @from AND @to
                ORDER BY m.at, m.rowid`)
      .all({ ...callArgs(q.call), users: JSON.stringify(q.userIds), from: q.from, to: q.to }) as SampleRow[];
    return rows.map((r) => ({
      sdkAppId: r.sdk_app_id,
      roomId: r.room_id,
      numericRoom: r.numeric_room !== 0, // unknown (schema 1) answers as an integer room, as CALL does
      userId: r.user_id,
      source: r.source,
      at: r.at,
      video: r.video_codec === null
        ? null
        : { codec: r.video_codec, width: r.width ?? 0, height: r.height ?? 0, fps: r.fps ?? 0, bitrate: r.video_bps ?? 0, loss: r.video_loss },
      audio: r.audio_codec === null ? null : { codec: r.audio_codec, bitrate: r.audio_bps ?? 0, loss: r.audio_loss },
    }));
  }

  async scale(q: TimeRange & { sdkAppId: number }): Promise<DayScale[]> {
    const sessions = this.db.prepare(
      `SELECT count(*) AS entries, count(DISTINCT ${ROOM_NAME} || char(0) || s.user_id) AS users
       FROM history_sessions s JOIN history_rooms r ON r.id = s.room
       WHERE r.sdk_app_id = @sdkAppId AND s.joined_at < @end AND (s.left_at IS NULL OR s.left_at >= @day)`);
    const rooms = this.db.prepare(
      `SELECT count(DISTINCT ${ROOM_NAME}) AS rooms FROM history_rooms r
       WHERE sdk_app_id = @sdkAppId AND created_at < @end AND (destroyed_at IS NULL OR destroyed_at >= @day)`);
    const out: DayScale[] = [];
    for (let day = q.from; day < q.to; day += DAY_MS) {
      const args = { sdkAppId: q.sdkAppId, day, end: day + DAY_MS };
      const s = sessions.get(args) as { entries: number; users: number };
      const r = rooms.get(args) as { rooms: number };
      out.push({ day, users: s.users, entries: s.entries, rooms: r.rooms });
    }
    return out;
  }

  async prune(before: number): Promise<void> {
    this.db.transaction(() => {
      // Sessions and rooms cascade to what belongs to them; events and samples of long sessions go by their time.
      this.db.prepare('DELETE FROM history_rooms WHERE destroyed_at < ?').run(before);
      this.db.prepare('DELETE FROM history_sessions WHERE left_at < ?').run(before);
      this.db.prepare('DELETE FROM history_events WHERE at < ?').run(before);
      this.db.prepare('DELETE FROM history_samples WHERE at < ?').run(before);
    })();
  }

  private apply(e: HistoryEntry): void {
    switch (e.kind) {
      case 'room-created': {
        // A room has one life at a time: one still open here was never dismissed (it cannot be open twice).
        const open = this.openRoom(e);
        if (open) this.endRoom(open.id, e.at);
        this.q.insertRoom.run(e.sdkAppId, e.roomId, e.numericRoom ? 1 : 0, e.at, e.userId);
        return;
      }
      case 'room-dismissed': {
        const open = this.openRoom(e);
        if (open) this.endRoom(open.id, e.at);
        return;
      }
      case 'user-entered': {
        // A user can only enter a room that exists: without its creation on record, the entry creates it.
        let room = this.openRoom(e)?.id;
        room ??= Number(this.q.insertRoom.run(e.sdkAppId, e.roomId, e.numericRoom ? 1 : 0, e.at, e.userId).lastInsertRowid);
        const session = Number(this.q.insertSession.run(room, e.userId, e.source, e.role, e.address, e.at).lastInsertRowid);
        this.q.insertEvent.run(session, e.at, 'entered', null, null, null);
        return;
      }
      case 'user-exited': {
        const session = this.sessionOf(e, e.userId);
        if (session === undefined) return;
        this.q.closeSession.run(e.at, e.reason, session);
        this.q.insertEvent.run(session, e.at, 'exited', e.reason, null, null);
        return;
      }
      case 'track': {
        const session = this.sessionOf(e, e.userId);
        if (session === undefined) return;
        this.q.insertEvent.run(session, e.at, `${e.track}-${e.on ? 'on' : 'off'}`, null, null, null);
        return;
      }
    }
  }

  private openRoom(r: { sdkAppId: number; roomId: string; numericRoom: boolean }): { id: number } | undefined {
    return this.q.openRoom.get(r.sdkAppId, r.roomId, r.numericRoom ? 1 : 0);
  }

  private sessionOf(r: { sdkAppId: number; roomId: string; numericRoom: boolean }, userId: string): number | undefined {
    const room = this.openRoom(r);
    return room && this.q.openSession.get(room.id, userId)?.id;
  }

  private endRoom(room: number, at: number): void {
    // Nobody stays in a room that ends; sessions still open here left without an exit on record (no reason).
    this.q.closeRoomSessions.run(at, room);
    this.q.closeRoom.run(at, room);
  }

  /**
   * Rows a previous run left open: the gateway stopped without saying who left (a crash, a kill). Each is closed at
   * the last moment it is known to have been in progress: a session at its last event or media sample (samples come
   * every history.sampleSeconds while media flows), a room at the last of its sessions. Their exit reason stays
   * unknown (null).
   */
  private closeDangling(): void {
    this.db.transaction(() => {
      this.db.exec(`
        UPDATE history_sessions SET left_at = max(joined_at,
            coalesce((SELECT max(at) FROM history_samples WHERE session = history_sessions.id), 0),
            coalesce((SELECT max(at) FROM history_events WHERE session = history_sessions.id), 0))
          WHERE left_at IS NULL;
        UPDATE history_rooms SET destroyed_at = max(created_at,
            coalesce((SELECT max(left_at) FROM history_sessions WHERE room = history_rooms.id), 0))
          WHERE destroyed_at IS NULL;`);
    })();
  }
}

function callArgs(k: CallKey): { sdkAppId: number; roomId: string; numeric: number; createdFrom: number; createdTo: number } {
  return { sdkAppId: k.sdkAppId, roomId: k.roomId, numeric: k.numericRoom ? 1 : 0, createdFrom: k.createdSec * 1000, createdTo: k.createdSec * 1000 + 999 };
}
