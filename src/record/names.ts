// Recording file names, exactly as TRTC names them (trtc-egress.md §2.2), so a back-end's existing scripts find
// roomgate's files where they find Tencent's:
//   single m3u8  <SdkAppId>_<RoomId>__UserId_s_<UserId>__UserId_e_<MediaId>_<Type>.m3u8
//   single ts    …_<Type>_<UTC>.ts          (the native tap appends _<UTC>.ts: file start, UTC+0, 17 digits)
//   single mp4   <SdkAppId>_<RoomId>__UserId_s_<UserId>__UserId_e_<MediaId>.mp4, or …_<Index>.mp4 once split
//   mixed        <SdkAppId>_<RoomId>.m3u8, …_<UTC>.ts, …[_<Index>].mp4
// and the object key puts `<FileNamePrefix levels>/<TaskId>/` in front (storage/s3-storage.ts). A string room id and every user id are
// base64 with `/` → `-` and `=` → `.`; the reference leaves `+` unspecified and Tencent's examples never show one, so
// it stays `+` (legal in file names and S3 keys).
//
// Choices where the reference is silent (§9 item 7): a merged A/V single-stream HLS (AvMerge 1) has the <Type>
// `audio_video` (the TrackType it reports), and AAC files (OutputFormat 2/4) are named like MP4s with `.aac`.

export type TrackKind = 'audio' | 'video' | 'audio_video';

/** TRTC's file-name form of an id: base64, `/` → `-`, `=` → `.`. */
export function fileId(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64').replaceAll('/', '-').replaceAll('=', '.');
}

/** The user id a single-stream file's name carries (`…__UserId_s_<fileId>__UserId_e_…`), or null for a mixed file's. */
export function userIdOfName(name: string): string | null {
  const id = /__UserId_s_([A-Za-z0-9+.-]*)__UserId_e_/.exec(name)?.[1];
  return id === undefined ? null : Buffer.from(id.replaceAll('-', '/').replaceAll('.', '='), 'base64').toString('utf8');
}

/** The room as it appears in names: a numeric room as it is, a string room encoded. */
export function roomPart(roomId: string, numericRoom: boolean): string {
  return numericRoom ? roomId : fileId(roomId);
}

export interface NameBase {
  sdkAppId: number;
  roomId: string;
  numericRoom: boolean;
}

/** The stem shared by a mixed recording's files. */
export function mixedStem(b: NameBase): string {
  return `${b.sdkAppId}_${roomPart(b.roomId, b.numericRoom)}`;
}

/** The stem shared by one user's single-stream files (MP4 and AAC files end here, before `[_<Index>].mp4`). */
export function userStem(b: NameBase, userId: string, aux = false): string {
  return `${mixedStem(b)}__UserId_s_${fileId(userId)}__UserId_e_${aux ? 'aux' : 'main'}`;
}

/** A single-stream HLS stem: the playlist is `<stem>.m3u8`, its segments `<stem>_<UTC>.ts`. */
export function hlsStem(b: NameBase, userId: string, track: TrackKind, aux = false): string {
  return `${userStem(b, userId, aux)}_${track}`;
}

/** UTC+0, year to millisecond, 17 digits: the `<UTC>` of a segment name (the native tap writes the same). */
export function utcStamp(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}${p(d.getUTCMilliseconds(), 3)}`;
}
