// Which room. TRTC's numeric room 123 and string room "123" are two rooms (trtc-wire.md §5: `numeric 123 ≠ string
// "123"`), in every API and every callback. roomgate names a room by its digits or its string and carries the type
// beside the name wherever a room is looked up, keyed or reported: RTMP, WHIP and WHEP name string rooms (TRTC's RTMP
// push and OBS WHIP do), the API 3.0 actions either kind.

export interface RoomRef {
  readonly sdkAppId: number;
  /** The room's name: its decimal digits for a numeric room. */
  readonly roomId: string;
  /** An integer room (RoomIdType 1 of StartStreamIngest, the integer-room actions, …); false for a string room. */
  readonly numericRoom: boolean;
}

/** A map key that keeps numeric and string rooms apart ('#' cannot occur in a string room id: src/auth/ids.ts). */
export function roomKey(r: RoomRef): string {
  return `${r.sdkAppId}/${r.numericRoom ? '#' : ''}${r.roomId}`;
}

/** How a room is named in messages: "integer room 1234" or "string room 'abc'", so the two never look alike. */
export function describeRoomRef(r: RoomRef): string {
  return r.numericRoom ? `integer room ${r.roomId}` : `string room '${r.roomId}'`;
}
