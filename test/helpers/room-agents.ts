// A recording task and a relay task in a room, started through the official SDK, so that room-control tests have
// agent users (Role 21) to remove: the recording records `anchor`, the relay pushes `anchor` to a port that refuses
// (the task stays in the room, retrying, which is all these tests need of it).

import { officialUserSig, TEST_APP } from './gateway.js';
import { refusingPort } from '../relay/rtmp-receiver.js';
import type { TrtcClient } from './api3.js';

export async function startAgents(
  client: TrtcClient,
  room: string,
  users: { anchor: string; recorder: string; relay: string },
): Promise<{ recordingTaskId: string; relayTaskId: string }> {
  const rec = await client.CreateCloudRecording({
    SdkAppId: TEST_APP.sdkAppId, RoomId: room, RoomIdType: 0, UserId: users.recorder, UserSig: officialUserSig(users.recorder),
    RecordParams: { RecordMode: 1, OutputFormat: 0 }, StorageParams: {},
  } as any);
  const relay = await client.StartPublishCdnStream({
    SdkAppId: TEST_APP.sdkAppId, RoomId: room, RoomIdType: 1, WithTranscoding: 0,
    AgentParams: { UserId: users.relay, UserSig: officialUserSig(users.relay) },
    SingleSubscribeParams: { UserMediaStream: { UserInfo: { UserId: users.anchor } } },
    AudioParams: { AudioEncode: { SampleRate: 44100, Channel: 1, BitRate: 64 } },
    VideoParams: { VideoEncode: { Width: 320, Height: 240, Fps: 30, BitRate: 500, Gop: 1 } },
    PublishCdnParams: [{ PublishCdnUrl: `rtmp://127.0.0.1:${await refusingPort()}/live/x`, IsTencentCdn: 0 }],
  } as any);
  return { recordingTaskId: rec.TaskId!, relayTaskId: relay.TaskId! };
}
