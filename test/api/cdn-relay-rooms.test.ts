// The rooms a relay request's UserMediaStreams name (SingleSubscribeParams, MaxVideoUser, custom pictures), typed with
// the SDK's own models: the task's room, named or not, is accepted in every spelling; another room — another id, or
// the other kind of room (RoomIdType) — is refused with the code and sentence of cdn-relay-room.ts, by Start at once
// and, for Update, by foreignRoom against the task (what RelayTask.update calls). MaxVideoUser becomes the layout's
// big-picture user, with the MCU's template rules (16 pictures, screen-share's big picture fitted).

import t from 'tap';
import type * as M from 'tencentcloud-sdk-nodejs/tencentcloud/services/trtc/v20190722/trtc_models.js';
import { Api3Error } from '../../src/api/api3-envelope.js';
import { startParams, updateParams } from '../../src/api/cdn-relay-params.js';
import { foreignRoom } from '../../src/api/cdn-relay-room.js';

const user = (UserId: string, room: Partial<M.MixUserInfo> = {}): M.UserMediaStream => ({ UserInfo: { UserId, ...room } });

function single(roomId: string, roomIdType: number, subscribed: M.UserMediaStream): M.StartPublishCdnStreamRequest {
  return {
    SdkAppId: 1400188366, RoomId: roomId, RoomIdType: roomIdType, WithTranscoding: 0,
    AgentParams: { UserId: 'agent', UserSig: 'sig' },
    SingleSubscribeParams: { UserMediaStream: subscribed },
    AudioParams: { AudioEncode: { SampleRate: 48000, Channel: 2, BitRate: 64 } },
    PublishCdnParams: [{ PublishCdnUrl: 'rtmp://cdn.example.com/live/x' }],
  };
}

function mixed(layout: M.McuLayoutParams): M.StartPublishCdnStreamRequest {
  return {
    SdkAppId: 1400188366, RoomId: 'class', RoomIdType: 1, WithTranscoding: 1,
    AgentParams: { UserId: 'agent', UserSig: 'sig' },
    AudioParams: { AudioEncode: { SampleRate: 48000, Channel: 2, BitRate: 64 } },
    VideoParams: { VideoEncode: { Width: 640, Height: 360, Fps: 25, BitRate: 800, Gop: 2 }, LayoutParams: layout },
    PublishCdnParams: [{ PublishCdnUrl: 'rtmp://cdn.example.com/live/x' }],
  };
}

const wire = (r: object): Record<string, unknown> => JSON.parse(JSON.stringify(r));

function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof Api3Error) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a refusal');
}

t.test('Start: the task\'s own room, however it is named, is accepted', async (t) => {
  for (const room of [{}, { RoomId: 'class' }, { RoomIdType: 1 }, { RoomId: 'class', RoomIdType: 1 }]) {
    t.equal(startParams(wire(single('class', 1, user('anchor', room)))).spec.userId, 'anchor', `string room, UserInfo ${JSON.stringify(room)}`);
  }
  for (const room of [{ RoomId: '1234', RoomIdType: 0 }, { RoomId: '01234' }, { RoomIdType: 0 }]) {
    t.equal(startParams(wire(single('1234', 0, user('anchor', room)))).spec.userId, 'anchor', `integer room, UserInfo ${JSON.stringify(room)}`);
  }
});

t.test('Start: another room in SingleSubscribeParams is refused with CRUnsupportMethod', async (t) => {
  const cases: [string, M.StartPublishCdnStreamRequest, RegExp][] = [
    ['another string room', single('class', 1, user('anchor', { RoomId: 'other' })), /names string room 'other' \(RoomIdType 1\), not the task's string room 'class' \(RoomIdType 1\)/],
    ['the integer room of the same digits', single('1234', 1, user('anchor', { RoomId: '1234', RoomIdType: 0 })), /names integer room '1234' \(RoomIdType 0\), not the task's string room '1234'/],
    ['RoomIdType alone, the other kind', single('1234', 0, user('anchor', { RoomIdType: 1 })), /names string room '1234' \(RoomIdType 1\), not the task's integer room '1234'/],
  ];
  for (const [what, req, says] of cases) {
    const e = refusal(() => startParams(wire(req)));
    t.equal(e.code, 'FailedOperation.CRUnsupportMethod', what);
    t.match(e.message, says, what);
    t.match(e.message, /^SingleSubscribeParams\.UserMediaStream\.UserInfo names .*own room only; leave RoomId and RoomIdType out/, `${what}: says what to send`);
  }
  t.equal(refusal(() => startParams({ ...wire(single('class', 1, user('anchor'))), SingleSubscribeParams: { UserMediaStream: { UserInfo: { UserId: 'anchor', RoomId: { x: 1 } } } } })).code, 'InvalidParameter', 'a RoomId that is no string');
});

t.test('MaxVideoUser: the big picture\'s user; its room must be the task\'s', async (t) => {
  const layout = startParams(wire(mixed({ MixLayoutMode: 2, MaxVideoUser: { UserMediaStream: user('teacher', { RoomId: 'class', RoomIdType: 1 }) } }))).spec.mix!.layout;
  t.match(layout, { mode: 2, maxResolutionUserId: 'teacher', maxPictures: 16 }, 'screen-share with the named big picture, at most 16 pictures');
  t.match(layout, { renderMode: 1, bigRenderMode: 2 }, 'no RenderMode: the big picture fitted whole, the small ones cropped (the MCU\'s screen-share)');
  const cropped = startParams(wire(mixed({ MixLayoutMode: 2, RenderMode: 0, MaxVideoUser: { UserMediaStream: user('teacher') } }))).spec.mix!.layout;
  t.equal(cropped.bigRenderMode, undefined, 'RenderMode 0 sent: every picture cropped');
  t.equal(startParams(wire(mixed({ MixLayoutMode: 1 }))).spec.mix!.layout.maxResolutionUserId, null, 'unset: the template\'s default');
  const e = refusal(() => startParams(wire(mixed({ MixLayoutMode: 1, MaxVideoUser: { UserMediaStream: user('teacher', { RoomId: 'other' }) } }))));
  t.equal(e.code, 'InvalidParameter', 'TRTC itself requires the task\'s room for a dynamic layout\'s big picture');
  t.match(e.message, /^VideoParams\.LayoutParams\.MaxVideoUser\.UserMediaStream\.UserInfo names string room 'other'.*big picture of a floating or screen-share layout/);
  const shared = refusal(() => startParams(wire(mixed({ MixLayoutMode: 2, MaxVideoUser: { UserMediaStream: { ...user('teacher'), StreamType: 1 } } }))));
  t.match(shared, { code: 'FailedOperation.CRUnsupportMethod', message: /MaxVideoUser\.UserMediaStream\.StreamType 1 \(screen share\)/ }, 'a screen-share stream');
  const custom = refusal(() => startParams(wire(mixed({
    MixLayoutMode: 4, MixLayoutList: [{ UserMediaStream: user('guest', { RoomId: 'other' }), ImageWidth: 320, ImageHeight: 360 }],
  }))));
  t.match(custom, { code: 'FailedOperation.CRUnsupportMethod', message: /^VideoParams\.LayoutParams\.MixLayoutList\[0\]\.UserMediaStream\.UserInfo names string room 'other'/ }, 'a custom picture of another room: cross-room mixing is not run here');
});

t.test('AudioParams lists: the same rule for their UserInfo', async (t) => {
  const lists = (info: Partial<M.MixUserInfo>): M.StartPublishCdnStreamRequest => {
    const r = mixed({ MixLayoutMode: 3 });
    r.AudioParams!.SubscribeAudioList = [{ UserInfo: { UserId: 'pupil', ...info } }];
    return r;
  };
  t.ok(startParams(wire(lists({ RoomId: 'class', RoomIdType: 1 }))).spec.audioLists.allow?.has('pupil'), 'the task\'s room named');
  t.match(refusal(() => startParams(wire(lists({ RoomIdType: 0 })))), { code: 'FailedOperation.CRUnsupportMethod', message: /^AudioParams\.SubscribeAudioList\[0\]\.UserInfo names integer room 'class'/ }, 'the other kind of room');
  t.match(refusal(() => startParams(wire(lists({ RoomId: 'other' })))), { code: 'FailedOperation.CRUnsupportMethod', message: /string room 'other'/ }, 'another room');
});

t.test('Update: the rooms named travel with the changes and are judged against the task', async (t) => {
  const { changes } = updateParams(wire({
    SdkAppId: 1400188366, TaskId: 'task.1', SequenceNumber: 1, WithTranscoding: 0,
    SingleSubscribeParams: { UserMediaStream: user('anchor', { RoomId: '01234', RoomIdType: 0 }) },
  } satisfies M.UpdatePublishCdnStreamRequest));
  t.equal(changes.userId, 'anchor');
  t.equal(foreignRoom(changes.rooms!, { roomId: '1234', numericRoom: true }), null, 'integer room 1234, however its digits are written');
  t.match(foreignRoom(changes.rooms!, { roomId: '1234', numericRoom: false }), { code: 'FailedOperation.CRUnsupportMethod', message: /not the task's string room '1234'/ }, 'a string task room "1234" is another room');
  const plain = updateParams(wire({ SdkAppId: 1400188366, TaskId: 'task.1', SequenceNumber: 2, WithTranscoding: 0, SingleSubscribeParams: { UserMediaStream: user('anchor') } }));
  t.equal(plain.changes.rooms, undefined, 'no room named: nothing to judge');
  const layout = updateParams(wire({
    SdkAppId: 1400188366, TaskId: 'task.1', SequenceNumber: 3, WithTranscoding: 1,
    VideoParams: { LayoutParams: { MixLayoutMode: 1, MaxVideoUser: { UserMediaStream: user('teacher', { RoomId: 'other' }) } } },
  } satisfies M.UpdatePublishCdnStreamRequest));
  t.equal(layout.changes.layout!.maxResolutionUserId, 'teacher');
  t.match(foreignRoom(layout.changes.rooms!, { roomId: 'class', numericRoom: false }), { code: 'InvalidParameter' }, 'MaxVideoUser of another room');
});
