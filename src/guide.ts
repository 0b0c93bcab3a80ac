// What a newcomer sees when the gateway starts with the demo app: ready-to-paste values for OBS, ffmpeg, WHIP and
// the browser play page, each with a freshly generated UserSig; and where the console and the metrics are.

import type { Config } from './config/schema.js';
import { genUserSig } from './auth/usersig.js';

export function newcomerGuide(config: Config, rtmpPort: number, httpPort: number): string {
  const app = config.apps[0];
  if (!app) return 'No app is configured: add one under "apps" to publish.';
  const host = config.rtmp.host === '0.0.0.0' ? '127.0.0.1' : config.rtmp.host;
  const httpHost = config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host;
  const roomId = 'demo-room';
  const userId = 'obs_streamer';
  const week = 7 * 24 * 3600;
  const sig = genUserSig({ sdkAppId: app.sdkAppId, secretKey: app.secretKey, userId, expireSeconds: week });
  const key = `${roomId}?sdkappid=${app.sdkAppId}&userid=${userId}&usersig=${sig}`;
  const whipUser = 'whip_streamer';
  const whipSig = genUserSig({ sdkAppId: app.sdkAppId, secretKey: app.secretKey, userId: whipUser, expireSeconds: week });
  const viewerUser = 'viewer_demo';
  const viewerSig = genUserSig({ sdkAppId: app.sdkAppId, secretKey: app.secretKey, userId: viewerUser, expireSeconds: week });
  const line = '─'.repeat(78);
  return [
    line,
    `roomgate is running with app ${app.sdkAppId}. Publish into room '${roomId}':`,
    '',
    'OBS (Settings → Stream → Service: Custom):',
    `  Server      rtmp://${host}:${rtmpPort}/push/`,
    `  Stream Key  ${key}`,
    '  and in Output → Advanced → x264 options: bframes=0 keyint=60 (WebRTC players cannot decode B-frames)',
    '',
    'ffmpeg:',
    `  ffmpeg -re -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440 \\`,
    `    -pix_fmt yuv420p -c:v libx264 -profile:v baseline -g 30 -c:a aac -f flv \\`,
    `    'rtmp://${host}:${rtmpPort}/push/${key}'`,
    '',
    'WHIP (OBS 30+ Settings → Stream → Service: WHIP):',
    `  Server        http://${httpHost}:${httpPort}/v2/pub/${app.sdkAppId}/${roomId}?SessionID=${whipUser}`,
    `  Bearer Token  ${whipSig}`,
    '',
    `Watch in a browser: http://${httpHost}:${httpPort}/play/${app.sdkAppId}/${roomId}?user=${viewerUser}&token=${encodeURIComponent(viewerSig)}`,
    `Room status: http://${httpHost}:${httpPort}/api/rooms/${app.sdkAppId}/${roomId}`,
    // with admin.token the console and the metrics need it; without, they answer this machine only
    config.admin.token
      ? `Console: http://${httpHost}:${httpPort}/console?token=${encodeURIComponent(config.admin.token)}`
      : `Console: http://${httpHost}:${httpPort}/console (this machine only until admin.token is set)`,
    `Metrics: http://${httpHost}:${httpPort}/metrics (Prometheus)`,
    'UserSigs above expire in 7 days; make new ones with: bin/roomgate usersig --help',
    line,
  ].join('\n');
}
