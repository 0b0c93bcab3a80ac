// Reads TRTC's RTMP push address: rtmp://HOST/push/<RoomId>?sdkappid=…&userid=…&usersig=…[&privatemapkey=…].
// OBS splits it into Server rtmp://HOST/push/ and Stream key <RoomId>?…; either way the RTMP connect carries the app
// and the publish command carries "<RoomId>?<query>". Parameter order is free, names are case-insensitive.

export interface PushTarget {
  roomId: string;
  sdkAppId: number;
  userId: string;
  userSig: string;
  privateMapKey?: string;
}

const HINT = 'the stream key must be <RoomId>?sdkappid=…&userid=…&usersig=…';

export function parsePushTarget(app: string | undefined, publishName: string): PushTarget | { reason: string } {
  const appName = (app ?? '').replace(/\/+$/, '');
  if (appName !== 'push') return { reason: `unknown application '${appName}': push to rtmp://HOST/push/` };
  const q = publishName.indexOf('?');
  const roomId = decodeSafe(q < 0 ? publishName : publishName.slice(0, q));
  if (roomId === null) return { reason: 'room id is not valid percent-encoding' };
  if (roomId === '') return { reason: `missing room id: ${HINT}` };
  const params = new URLSearchParams(q < 0 ? '' : publishName.slice(q + 1));
  const get = (name: string): string | undefined => {
    for (const [k, v] of params) if (k.toLowerCase() === name) return v;
    return undefined;
  };
  const sdkAppIdText = get('sdkappid');
  const userId = get('userid');
  const userSig = get('usersig');
  if (!sdkAppIdText) return { reason: `missing sdkappid: ${HINT}` };
  if (!/^\d{1,10}$/.test(sdkAppIdText)) return { reason: `sdkappid '${sdkAppIdText}' is not a number` };
  if (!userId) return { reason: `missing userid: ${HINT}` };
  // URLSearchParams turns '+' into ' '; UserSig's own alphabet uses '*', '-', '_' so a '+' can only be a typo.
  if (!userSig) return { reason: `missing usersig: ${HINT}` };
  const privateMapKey = get('privatemapkey');
  return { roomId, sdkAppId: Number(sdkAppIdText), userId, userSig, ...(privateMapKey ? { privateMapKey } : {}) };
}

function decodeSafe(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}
