// Everything a pull-task test needs: a gateway whose test app sends callbacks to a local receiver, a local media
// server (allowed by pull.allow), and the official SDK client.

import { startTestGateway, officialUserSig, waitFor, TEST_APP, OTHER_APP, type TestGateway } from './gateway.js';
import { trtcClient, TEST_CREDENTIAL, type TrtcClient } from './api3.js';
import { startCallbackReceiver, type CallbackReceiver } from './callback-receiver.js';
import { startMediaServer, type MediaServer } from './media-server.js';

export const CALLBACK_KEY = 'roomgateCallbackKey42';

export interface PullFixture {
  g: TestGateway;
  rx: CallbackReceiver;
  media: MediaServer;
  client: TrtcClient;
  /** StartStreamIngest for `userId` into `room`; resolves the TaskId. */
  start(room: string, userId: string, streamUrl: string, extra?: Record<string, unknown>): Promise<string>;
  /** The room's user list from the status API ([] when the room does not exist); a string room unless 'integer'. */
  users(room: string, type?: 'string' | 'integer'): Promise<any[]>;
  /** Waits for the task's 702 callback. */
  ended(taskId: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startPullFixture(overrides: Record<string, any> = {}): Promise<PullFixture> {
  const rx = await startCallbackReceiver(CALLBACK_KEY);
  const media = await startMediaServer();
  const { pull, callbacks, api, ...rest } = overrides;
  const g = await startTestGateway({
    apps: [{ ...TEST_APP, callbackUrl: rx.url, callbackKey: CALLBACK_KEY }, OTHER_APP],
    api: { credentials: [TEST_CREDENTIAL], ...api },
    pull: { allow: ['127.0.0.1'], ...pull },
    ...(callbacks ? { callbacks } : {}),
    ...rest,
  });
  const client = trtcClient(`127.0.0.1:${g.gw.http.port}`);
  return {
    g,
    rx,
    media,
    client,
    async start(room, userId, streamUrl, extra = {}) {
      const r = await client.StartStreamIngest({
        SdkAppId: TEST_APP.sdkAppId,
        RoomId: room,
        RoomIdType: 0,
        UserId: userId,
        UserSig: officialUserSig(userId),
        StreamUrl: streamUrl,
        ...extra,
      });
      return r.TaskId!;
    },
    async users(room, type = 'string') {
      const r = await g.getJson(`/api/rooms/${TEST_APP.sdkAppId}/${room}?type=${type}`);
      return r.status === 200 ? r.body.users : [];
    },
    async ended(taskId, timeoutMs = 20000) {
      await waitFor(() => rx.events(702, taskId).length > 0, timeoutMs, `702 for task ${taskId}`);
    },
    async close() {
      await g.close();
      await rx.close();
      await media.close();
    },
  };
}
