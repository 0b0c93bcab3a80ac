// Identifier rules shared by every entry point (RTMP URLs, WHIP, the API). Each check returns null when the value is
// acceptable and otherwise one sentence that tells the caller what to change, so handlers can pass it on verbatim.
//
// Rules follow TRTC's documented limits: user ids ≤ 32 bytes of [A-Za-z0-9_-] (the tls-sig libraries' rule), numeric
// room ids 1–4294967294, string room ids ≤ 64 characters. For string rooms we deliberately accept only the
// URL-safe subset [A-Za-z0-9_-] (TRTC SDKs allow 89 characters incl. space and punctuation) because our room ids
// travel in RTMP paths and HTTP URLs where those characters need escaping and are easily mangled.

const ID_CHARS = /^[A-Za-z0-9_-]+$/;
const ID_CHARS_TEXT = 'A-Z a-z 0-9 _ -';

export const MAX_USER_ID_BYTES = 32;
export const MAX_STRING_ROOM_ID_CHARS = 64;
export const MAX_NUMERIC_ROOM_ID = 4294967294;
/** SDKAppIDs are stored as uint32 inside PrivateMapKeys, so that is the widest value we can honour. */
export const MAX_SDK_APP_ID = 0xffffffff;

/** Shows a value the caller sent without letting a huge or multi-line input flood a log line. */
export function quote(value: string): string {
  const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  return `'${shown.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}'`;
}

export function checkUserId(userId: string): string | null {
  if (typeof userId !== 'string' || userId.length === 0) return 'user id is empty';
  const bytes = Buffer.byteLength(userId, 'utf8');
  if (bytes > MAX_USER_ID_BYTES) {
    return `user id ${quote(userId)} is ${bytes} bytes long; the limit is ${MAX_USER_ID_BYTES}`;
  }
  if (!ID_CHARS.test(userId)) return `user id ${quote(userId)} has a character other than ${ID_CHARS_TEXT}`;
  return null;
}

export function checkStringRoomId(roomId: string): string | null {
  if (typeof roomId !== 'string' || roomId.length === 0) return 'room id is empty';
  if (roomId.length > MAX_STRING_ROOM_ID_CHARS) {
    return `room id ${quote(roomId)} is ${roomId.length} characters long; the limit is ${MAX_STRING_ROOM_ID_CHARS}`;
  }
  if (!ID_CHARS.test(roomId)) return `room id ${quote(roomId)} has a character other than ${ID_CHARS_TEXT}`;
  return null;
}

const NUMERIC_ROOM_RULE = `numeric room ids are integers from 1 to ${MAX_NUMERIC_ROOM_ID}`;

export function checkNumericRoomId(roomId: number): string | null {
  if (typeof roomId !== 'number' || !Number.isInteger(roomId)) {
    return `room id ${String(roomId)} is not an integer; ${NUMERIC_ROOM_RULE}`;
  }
  if (roomId < 1 || roomId > MAX_NUMERIC_ROOM_ID) {
    return `room id ${roomId} is out of range; ${NUMERIC_ROOM_RULE}`;
  }
  return null;
}

export function checkSdkAppId(sdkAppId: number): string | null {
  if (typeof sdkAppId !== 'number' || !Number.isInteger(sdkAppId)) {
    return `sdkappid ${String(sdkAppId)} is not an integer`;
  }
  if (sdkAppId < 1 || sdkAppId > MAX_SDK_APP_ID) {
    return `sdkappid ${sdkAppId} is out of range; it must be an integer from 1 to ${MAX_SDK_APP_ID}`;
  }
  return null;
}

/** A room is numeric or string typed; TRTC treats numeric 123 and string "123" as different rooms. */
export type RoomId = string | number;

export function checkRoomId(roomId: RoomId): string | null {
  return typeof roomId === 'number' ? checkNumericRoomId(roomId) : checkStringRoomId(roomId);
}

/** How a room is named in reasons: string rooms quoted, numeric rooms bare — so 'x' vs 123 is visible. */
export function describeRoom(roomId: RoomId): string {
  return typeof roomId === 'number' ? String(roomId) : quote(roomId);
}
