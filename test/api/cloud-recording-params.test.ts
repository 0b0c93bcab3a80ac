// The cloud-recording parameters as the official SDK sends them: full valid requests typed with the SDK's own models
// (a misspelt field fails to compile), then one field broken at a time, each code of trtc-egress.md §1.8 provoked
// once with a message naming the field; the defaults; and subscribes() on SubscribeStreamUserIds entries.
// The actions against a running gateway are the lead's end-to-end test (the recording service comes with it).

import t from 'tap';
import type * as M from 'tencentcloud-sdk-nodejs/tencentcloud/services/trtc/v20190722/trtc_models.js';
import { Api3Error } from '../../src/api/api3-envelope.js';
import { createParams, describeParams, modifyParams, taskIdParam } from '../../src/api/cloud-recording-params.js';
import { defaultMixLayout } from '../../src/api/cloud-recording-mix-params.js';
import type { RecordingSpec } from '../../src/api/cloud-recording-service.js';
import { subscribes } from '../../src/record/subscribe.js';

const SECRET = 'Sk3yTHATmust-never+appear/in/a/message';

/** Everything a mixed recording to S3 can carry. */
function full(): M.CreateCloudRecordingRequest {
  return {
    SdkAppId: 1400188366,
    RoomId: '20015',
    RoomIdType: 1,
    UserId: 'recorder_20015',
    UserSig: 'eJw1jV0LgjAYhf-K2HX4sY0uvQsbZFGmRV3KXt*ikmmvLZEo-ntz5*',
    PrivateMapKey: 'eJw1jkELgkAQhf-KstfC3dVN6BAoJBUFZXYJL*m6yZTi6zVxR-',
    RecordParams: {
      RecordMode: 2,
      MaxIdleTime: 60,
      StreamType: 0,
      SubscribeStreamUserIds: { SubscribeAudioUserIds: ['alice', 'bob'], UnSubscribeVideoUserIds: ['guest_.*$'] },
      OutputFormat: 1,
      AvMerge: 0,
      MaxMediaFileDuration: 120,
      MediaId: 1,
      FillType: 1,
      SubscribeAbility: 0,
    },
    StorageParams: {
      CloudStorage: {
        Vendor: 1, Region: 'us-east-1', Bucket: 'trtc-records', AccessKey: 'AKIAIOSFODNN7EXAMPLE', SecretKey: SECRET,
        FileNamePrefix: ['prod', 'room_20015'],
      },
    },
    MixTranscodeParams: {
      VideoParams: { Width: 1280, Height: 720, Fps: 30, BitRate: 1500000, Gop: 2 },
      AudioParams: { SampleRate: 2, Channel: 1, BitRate: 96000 },
    },
    MixLayoutParams: {
      MixLayoutMode: 4,
      MixLayoutList: [
        { Top: 0, Left: 0, Width: 640, Height: 720, UserId: 'alice', Alpha: 0, RenderMode: 2, MediaId: 0, ImageLayer: 1 },
        { Top: 360, Left: 640, Width: 640, Height: 360 },
      ],
      BackGroundColor: '#ffa500',
      PlaceHolderMode: 1,
      RenderMode: 0,
      PureAudioDisableLayout: true,
    },
    ResourceExpiredHour: 24,
  };
}

/** The least the SDK's typings let through: single-stream, StorageParams {} (the gateway's directory). */
function minimal(): M.CreateCloudRecordingRequest {
  return { SdkAppId: 1400188366, RoomId: '20015', UserId: 'recorder_20015', UserSig: 'sig', RecordParams: { RecordMode: 1 }, StorageParams: {} };
}

/** What reaches the action: the SDK's JSON body, parsed (undefined fields dropped). */
const wire = (req: object): Record<string, unknown> => JSON.parse(JSON.stringify(req));

function error(fn: () => unknown): Api3Error {
  try {
    fn();
  } catch (e) {
    if (e instanceof Api3Error) return e;
    throw e;
  }
  throw new Error('expected an Api3Error');
}

t.test('a full request as the SDK sends it becomes the spec, field by field', async (t) => {
  const r = createParams(wire(full()));
  t.equal(r.userSig, full().UserSig);
  t.equal(r.privateMapKey, full().PrivateMapKey);
  t.same(r.spec, {
    sdkAppId: 1400188366, roomId: '20015', roomIdType: 1, userId: 'recorder_20015', recordMode: 2, maxIdleTimeSec: 60,
    streamType: 0,
    subscribe: { audio: { allow: ['alice', 'bob'] }, video: { block: ['guest_.*$'] } },
    outputFormat: 1, avMerge: 1, maxMediaFileDurationMin: 120, mediaId: 1, fillType: 1,
    storage: {
      kind: 's3', vendor: 1, region: 'us-east-1', bucket: 'trtc-records', accessKey: 'AKIAIOSFODNN7EXAMPLE', secretKey: SECRET,
      prefix: ['prod', 'room_20015'],
    },
    mix: {
      video: { width: 1280, height: 720, fps: 30, bitrate: 1500000, gopSec: 2 },
      audio: { sampleRate: 44100, channels: 1, bitrate: 96000 },
      layout: {
        mode: 4,
        rects: [
          { x: 0, y: 0, width: 640, height: 720, userId: 'alice', alpha: 0, renderMode: 2, mediaId: 0, zOrder: 1 },
          { x: 640, y: 360, width: 640, height: 360, userId: null, alpha: 0, renderMode: 1, mediaId: 0, zOrder: 0 },
        ],
        background: '#FFA500', maxResolutionUserId: null, maxResolutionMediaId: 0, maxResolutionUserAlign: 0,
        renderMode: 0, pureAudioDisableLayout: true, placeHolderMode: 1,
      },
    },
    resourceExpiredHour: 24,
  } satisfies RecordingSpec);
});

t.test('defaults: the minimal request records everyone, single-stream HLS, to the local directory', async (t) => {
  const r = createParams(wire(minimal()));
  t.same(r.spec, {
    sdkAppId: 1400188366, roomId: '20015', roomIdType: 1, userId: 'recorder_20015', recordMode: 1, maxIdleTimeSec: 30,
    streamType: 0, subscribe: { audio: null, video: null }, outputFormat: 0, avMerge: 0, maxMediaFileDurationMin: 1440,
    mediaId: 0, fillType: 0, storage: { kind: 'local' }, mix: null, resourceExpiredHour: 72,
  } satisfies RecordingSpec);
  t.notOk('privateMapKey' in r, 'no PrivateMapKey, none passed on');
});

t.test('defaults of a mixed recording: 360×640 15 fps 550 kbit/s GOP 10 s, 48 kHz stereo 64 kbit/s, black grid', async (t) => {
  const req = minimal();
  req.RecordParams.RecordMode = 2;
  t.same(createParams(wire(req)).spec.mix, {
    video: { width: 360, height: 640, fps: 15, bitrate: 550000, gopSec: 10 },
    audio: { sampleRate: 48000, channels: 2, bitrate: 64000 },
    layout: defaultMixLayout(),
  });
  t.equal(defaultMixLayout().mode, 3, 'grid');
  t.equal(defaultMixLayout().background, '#000000');
  const noMode = wire({ ...req, MixLayoutParams: { BackGroundColor: '#00ff00' } });
  const layout = createParams(noMode).spec.mix!.layout;
  t.equal(layout.mode, 3, 'MixLayoutParams without MixLayoutMode: the grid too');
  t.equal(layout.background, '#00FF00');
});

t.test('room ids: RoomIdType 1 (the default) numeric, 0 a string room', async (t) => {
  t.equal(createParams(wire({ ...minimal(), RoomIdType: 0, RoomId: 'class-7a' })).spec.roomId, 'class-7a');
  t.equal(createParams(wire({ ...minimal(), RoomIdType: 0, RoomId: '20015' })).spec.roomIdType, 0);
  t.equal(createParams({ ...wire(minimal()), RoomId: 20015 }).spec.roomId, '20015', 'a JSON number is taken too');
});

t.test('mixed-mode fields are checked but not used in single-stream mode', async (t) => {
  const req = full();
  req.RecordParams.RecordMode = 1;
  const spec = createParams(wire(req)).spec;
  t.equal(spec.mix, null);
  t.equal(spec.avMerge, 0, 'AvMerge applies to single-stream');
  delete req.MixTranscodeParams;
  t.equal(createParams(wire(req)).spec.mix, null, 'no canvas to fit: custom pictures wider than the default 360×640 pass');
  req.MixTranscodeParams = full().MixTranscodeParams;
  req.MixTranscodeParams!.VideoParams!.Fps = 0;
  t.equal(error(() => createParams(wire(req))).code, 'InvalidParameter.OutOfRange', 'a bad one is still refused');
});

t.test('a custom layout in a template mode is not used', async (t) => {
  const req = full();
  req.MixLayoutParams!.MixLayoutMode = 1;
  req.MixLayoutParams!.MaxResolutionUserId = 'alice';
  req.MixLayoutParams!.MediaId = 1;
  const layout = createParams(wire(req)).spec.mix!.layout;
  t.same(layout.rects, []);
  t.equal(layout.maxResolutionUserId, 'alice');
  t.equal(layout.maxResolutionMediaId, 1);
});

/** A request being broken on purpose: past what the SDK's typings allow. */
type Req = Record<string, any>;
interface Case {
  name: string;
  change: (r: Req) => void;
  code: string;
  /** The message must name the field (and say what is allowed). */
  says: RegExp;
}

const rp = (r: Req): any => r.RecordParams;
const cs = (r: Req): any => r.StorageParams.CloudStorage;
const vp = (r: Req): any => r.MixTranscodeParams.VideoParams;
const ap = (r: Req): any => r.MixTranscodeParams.AudioParams;
const ml = (r: Req): any => r.MixLayoutParams;
const rect0 = (r: Req): any => r.MixLayoutParams.MixLayoutList[0];

const CASES: Case[] = [
  { name: 'no SdkAppId', change: (r) => delete r.SdkAppId, code: 'MissingParameter.SdkAppId', says: /SdkAppId is missing/ },
  { name: 'SdkAppId as a string', change: (r) => (r.SdkAppId = '1400188366'), code: 'InvalidParameter.SdkAppId', says: /SdkAppId must be a positive integer/ },
  { name: 'no RoomId', change: (r) => delete r.RoomId, code: 'MissingParameter.RoomId', says: /RoomId is missing/ },
  { name: 'string room with RoomIdType 1', change: (r) => (r.RoomId = 'class-7a'), code: 'InvalidParameter.OutOfRange', says: /RoomId 'class-7a' is not a room number, as RoomIdType 1 \(the default\) requires: send the digits.*RoomIdType 0/ },
  { name: 'room 0', change: (r) => (r.RoomId = '0'), code: 'InvalidParameter.OutOfRange', says: /RoomId '0' .*1 to 4294967294/ },
  { name: 'RoomIdType 2', change: (r) => (r.RoomIdType = 2), code: 'InvalidParameter.OutOfRange', says: /RoomIdType must be 0 \(string room id\) or 1/ },
  { name: 'string room with a space', change: (r) => { r.RoomIdType = 0; r.RoomId = 'my room'; }, code: 'InvalidParameter.OutOfRange', says: /RoomId: room id 'my room' has a character/ },
  { name: 'no UserId', change: (r) => delete r.UserId, code: 'MissingParameter.UserId', says: /UserId is missing/ },
  { name: 'UserId too long', change: (r) => (r.UserId = 'r'.repeat(33)), code: 'InvalidParameter.OutOfRange', says: /UserId: .*33 bytes long/ },
  { name: 'no UserSig', change: (r) => delete r.UserSig, code: 'MissingParameter.UserSig', says: /UserSig is missing.*'recorder_20015'/ },
  { name: 'UserSig a number', change: (r) => (r.UserSig = 42), code: 'InvalidParameter.OutOfRange', says: /UserSig must be a string/ },
  { name: 'PrivateMapKey a number', change: (r) => (r.PrivateMapKey = 7), code: 'InvalidParameter.OutOfRange', says: /PrivateMapKey must be a string/ },
  { name: 'no RecordParams', change: (r) => delete r.RecordParams, code: 'MissingParameter.RecordParams', says: /RecordParams is missing/ },
  { name: 'RecordParams a string', change: (r) => (r.RecordParams = 'mixed'), code: 'InvalidParameter.OutOfRange', says: /RecordParams must be a JSON object/ },
  { name: 'no RecordMode', change: (r) => delete rp(r).RecordMode, code: 'MissingParameter.RecordMode', says: /RecordParams.RecordMode is missing/ },
  { name: 'RecordMode 3', change: (r) => (rp(r).RecordMode = 3), code: 'InvalidParameter.OutOfRange', says: /RecordParams.RecordMode must be 1 \(single-stream\) or 2 \(mixed\); got 3/ },
  { name: 'MaxIdleTime 4', change: (r) => (rp(r).MaxIdleTime = 4), code: 'InvalidParameter.OutOfRange', says: /RecordParams.MaxIdleTime must be an integer from 5 to 86400/ },
  { name: 'MaxIdleTime 86401', change: (r) => (rp(r).MaxIdleTime = 86401), code: 'InvalidParameter.OutOfRange', says: /MaxIdleTime .*got 86401/ },
  { name: 'StreamType 3', change: (r) => (rp(r).StreamType = 3), code: 'InvalidParameter.OutOfRange', says: /RecordParams.StreamType must be 0 \(audio and video\)/ },
  { name: 'OutputFormat 5', change: (r) => (rp(r).OutputFormat = 5), code: 'InvalidParameter.OutOfRange', says: /OutputFormat must be 0 \(hls\).* or 4 \(aac\); got 5/ },
  { name: 'AvMerge 2', change: (r) => (rp(r).AvMerge = 2), code: 'InvalidParameter.OutOfRange', says: /RecordParams.AvMerge/ },
  { name: 'MaxMediaFileDuration 0', change: (r) => (rp(r).MaxMediaFileDuration = 0), code: 'InvalidParameter.OutOfRange', says: /MaxMediaFileDuration must be an integer from 1 to 1440 \(minutes\)/ },
  { name: 'MaxMediaFileDuration 1441', change: (r) => (rp(r).MaxMediaFileDuration = 1441), code: 'InvalidParameter.OutOfRange', says: /got 1441/ },
  { name: 'MediaId 3', change: (r) => (rp(r).MediaId = 3), code: 'InvalidParameter.OutOfRange', says: /RecordParams.MediaId must be 0 \(main and aux streams\)/ },
  { name: 'FillType 2', change: (r) => (rp(r).FillType = 2), code: 'InvalidParameter.OutOfRange', says: /RecordParams.FillType/ },
  { name: 'SubscribeAbility 2', change: (r) => (rp(r).SubscribeAbility = 2), code: 'InvalidParameter.OutOfRange', says: /RecordParams.SubscribeAbility/ },
  { name: 'MaxIdleTime a string', change: (r) => (rp(r).MaxIdleTime = '60'), code: 'InvalidParameter.OutOfRange', says: /MaxIdleTime must be an integer.*got '60'/ },
  {
    name: 'audio allow- and blocklist both set',
    change: (r) => (rp(r).SubscribeStreamUserIds.UnSubscribeAudioUserIds = ['carol']),
    code: 'InvalidParameter.OutOfRange',
    says: /SubscribeStreamUserIds sets both SubscribeAudioUserIds and UnSubscribeAudioUserIds; send one of them/,
  },
  {
    name: '33 video ids',
    change: (r) => (rp(r).SubscribeStreamUserIds.SubscribeVideoUserIds = Array.from({ length: 33 }, (_, i) => `u${i}`)),
    code: 'InvalidParameter.OutOfRange',
    says: /SubscribeVideoUserIds has 33 entries; the limit is 32/,
  },
  {
    name: 'a subscribe entry that is neither id nor prefix',
    change: (r) => (rp(r).SubscribeStreamUserIds.SubscribeAudioUserIds = ['alice', '^bo.*']),
    code: 'InvalidParameter.OutOfRange',
    says: /SubscribeAudioUserIds\[1\] must be a user id .* or a prefix pattern such as "1\.\*\$"/,
  },
  { name: 'no StorageParams', change: (r) => delete r.StorageParams, code: 'MissingParameter.StorageParams', says: /StorageParams is missing: send CloudStorage .* or an empty StorageParams \{\}/ },
  { name: 'StorageParams with a misspelt CloudStorage', change: (r) => (r.StorageParams = { CloudStorge: cs(r) }), code: 'MissingParameter.CloudStorage', says: /StorageParams has 'CloudStorge' but no CloudStorage/ },
  { name: 'CloudVod', change: (r) => (r.StorageParams = { CloudVod: { TencentVod: { MediaType: 0 } } }), code: 'FailedOperation.CRUnsupportMethod', says: /CloudVod \(Tencent VOD\) is not supported.*CloudStorage.*\{\}/ },
  { name: 'CloudStorage and CloudVod', change: (r) => (r.StorageParams.CloudVod = {}), code: 'InvalidParameter.OutOfRange', says: /both CloudStorage and CloudVod/ },
  { name: 'no Vendor', change: (r) => delete cs(r).Vendor, code: 'MissingParameter.Vendor', says: /CloudStorage.Vendor is missing/ },
  { name: 'Vendor 2', change: (r) => (cs(r).Vendor = 2), code: 'InvalidParameter.OutOfRange', says: /Vendor must be 0 \(Tencent COS\) or 1 \(AWS S3\); got 2/ },
  { name: 'no Region', change: (r) => delete cs(r).Region, code: 'MissingParameter.Region', says: /CloudStorage.Region is missing/ },
  { name: 'Region with a host in it', change: (r) => (cs(r).Region = 'evil.example/x'), code: 'InvalidParameter.OutOfRange', says: /Region must be a region name/ },
  { name: 'no Bucket', change: (r) => delete cs(r).Bucket, code: 'MissingParameter.Bucket', says: /CloudStorage.Bucket is missing/ },
  { name: 'Bucket with a slash', change: (r) => (cs(r).Bucket = 'a/b'), code: 'InvalidParameter.OutOfRange', says: /Bucket must be a bucket name/ },
  { name: 'no AccessKey', change: (r) => delete cs(r).AccessKey, code: 'MissingParameter.AccessKey', says: /CloudStorage.AccessKey is missing/ },
  { name: 'no SecretKey', change: (r) => delete cs(r).SecretKey, code: 'MissingParameter.SecretKey', says: /CloudStorage.SecretKey is missing/ },
  { name: 'SecretKey with a space', change: (r) => (cs(r).SecretKey = `${SECRET} `), code: 'InvalidParameter.OutOfRange', says: /SecretKey must be .*\(the value is not shown\)/ },
  { name: 'FileNamePrefix with a dot', change: (r) => (cs(r).FileNamePrefix = ['prod', '..']), code: 'InvalidParameter.OutOfRange', says: /FileNamePrefix\[1\] must be a folder name .*A-Z a-z 0-9 _ -; got '\.\.'/ },
  { name: 'VideoParams without Gop', change: (r) => delete vp(r).Gop, code: 'MissingParameter', says: /VideoParams.Gop is missing: when MixTranscodeParams.VideoParams is sent, Width, Height, Fps, BitRate and Gop are all required/ },
  { name: 'AudioParams without Channel', change: (r) => delete ap(r).Channel, code: 'MissingParameter', says: /AudioParams.Channel is missing/ },
  { name: 'Width 1921', change: (r) => (vp(r).Width = 1921), code: 'InvalidParameter.OutOfRange', says: /VideoParams.Width must be an even number of pixels from 2 to 1920/ },
  { name: 'odd Height', change: (r) => (vp(r).Height = 721), code: 'InvalidParameter.OutOfRange', says: /VideoParams.Height .*even/ },
  { name: '1920×1920', change: (r) => { vp(r).Width = 1920; vp(r).Height = 1920; }, code: 'InvalidParameter.OutOfRange', says: /1920×1920; Width × Height may be at most 1920 × 1080/ },
  { name: 'Fps 61', change: (r) => (vp(r).Fps = 61), code: 'InvalidParameter.OutOfRange', says: /VideoParams.Fps must be an integer from 1 to 60/ },
  { name: 'video BitRate 63999', change: (r) => (vp(r).BitRate = 63999), code: 'InvalidParameter.OutOfRange', says: /VideoParams.BitRate must be an integer from 64000 to 8192000 \(bit\/s\)/ },
  { name: 'SampleRate 48000', change: (r) => (ap(r).SampleRate = 48000), code: 'InvalidParameter.OutOfRange', says: /SampleRate must be 1 \(48000 Hz\), 2 \(44100 Hz\) or 3 \(16000 Hz\); got 48000/ },
  { name: 'audio BitRate 128001', change: (r) => (ap(r).BitRate = 128001), code: 'InvalidParameter.OutOfRange', says: /AudioParams.BitRate must be an integer from 32000 to 128000/ },
  { name: 'MixLayoutMode 5', change: (r) => (ml(r).MixLayoutMode = 5), code: 'InvalidParameter.OutOfRange', says: /MixLayoutParams.MixLayoutMode must be 1 \(floating\)/ },
  { name: 'custom without pictures', change: (r) => delete ml(r).MixLayoutList, code: 'InvalidParameter.OutOfRange', says: /MixLayoutMode 4 \(custom\) needs MixLayoutList with 1 to 25 pictures/ },
  {
    name: '26 pictures',
    change: (r) => (ml(r).MixLayoutList = Array.from({ length: 26 }, () => ({ Top: 0, Left: 0, Width: 10, Height: 10 }))),
    code: 'InvalidParameter.OutOfRange',
    says: /MixLayoutList has 26 entries; the limit is 25/,
  },
  { name: 'a picture past the canvas', change: (r) => (rect0(r).Left = 700), code: 'InvalidParameter.OutOfRange', says: /MixLayoutList\[0\] \(Left 700, Top 0, Width 640, Height 720\) does not fit the 1280×720 canvas/ },
  { name: 'a picture without Top', change: (r) => delete rect0(r).Top, code: 'MissingParameter', says: /MixLayoutList\[0\].Top is missing/ },
  { name: 'Alpha 256', change: (r) => (rect0(r).Alpha = 256), code: 'InvalidParameter.OutOfRange', says: /MixLayoutList\[0\].Alpha must be an integer from 0 to 255/ },
  { name: 'picture RenderMode 4', change: (r) => (rect0(r).RenderMode = 4), code: 'InvalidParameter.OutOfRange', says: /MixLayoutList\[0\].RenderMode must be 0 \(stretch\)/ },
  { name: 'picture UserId with @', change: (r) => (rect0(r).UserId = 'bob@x'), code: 'InvalidParameter.OutOfRange', says: /MixLayoutList\[0\].UserId: user id 'bob@x'/ },
  { name: 'BackGroundColor by name', change: (r) => (ml(r).BackGroundColor = 'orange'), code: 'InvalidParameter.OutOfRange', says: /BackGroundColor must be a colour written #RRGGBB/ },
  { name: 'PureAudioDisableLayout 1', change: (r) => (ml(r).PureAudioDisableLayout = 1), code: 'InvalidParameter.OutOfRange', says: /PureAudioDisableLayout must be true or false/ },
  { name: 'a background image', change: (r) => (ml(r).BackgroundImageUrl = 'https://example.com/bg.png'), code: 'FailedOperation.CRUnsupportMethod', says: /MixLayoutParams.BackgroundImageUrl is not supported: .*without images/ },
  { name: 'a placeholder image', change: (r) => (ml(r).DefaultSubBackgroundImage = 'https://example.com/p.jpg'), code: 'FailedOperation.CRUnsupportMethod', says: /DefaultSubBackgroundImage is not supported/ },
  { name: 'a picture\'s placeholder image', change: (r) => (rect0(r).SubBackgroundImage = 'https://example.com/p.jpg'), code: 'FailedOperation.CRUnsupportMethod', says: /MixLayoutList\[0\].SubBackgroundImage is not supported/ },
  {
    name: 'a watermark',
    change: (r) => (ml(r).WaterMarkList = [{ WaterMarkType: 0, WaterMarkImage: { WaterMarkUrl: 'https://example.com/logo.png', Top: 0, Left: 0, Width: 100, Height: 50 } }]),
    code: 'FailedOperation.CRUnsupportMethod',
    says: /WaterMarkList is not supported: this gateway does not draw watermarks/,
  },
  { name: 'ResourceExpiredHour 5', change: (r) => (r.ResourceExpiredHour = 5), code: 'InvalidParameter.OutOfRange', says: /ResourceExpiredHour must be an integer from 6 to 720 \(hours\)/ },
  { name: 'ResourceExpiredHour 721', change: (r) => (r.ResourceExpiredHour = 721), code: 'InvalidParameter.OutOfRange', says: /got 721/ },
];

t.test('CreateCloudRecording: one field broken at a time', async (t) => {
  for (const c of CASES) {
    const req = full() as Req;
    c.change(req);
    const e = error(() => createParams(wire(req)));
    t.equal(e.code, c.code, `${c.name}: ${c.code}`);
    t.match(e.message, c.says, `${c.name}: the message says which field`);
    t.match(e.message, /\.$/, `${c.name}: a sentence`);
    t.notOk(e.message.includes(SECRET.slice(0, 12)), `${c.name}: the secret key is never repeated`);
  }
});

t.test('what is not a mistake: empty lists, empty image URLs, StorageParams {} with nulls', async (t) => {
  const req = full() as Req;
  rp(req).SubscribeStreamUserIds = { SubscribeAudioUserIds: [], UnSubscribeAudioUserIds: ['x'], SubscribeVideoUserIds: [] };
  ml(req).WaterMarkList = [];
  ml(req).BackgroundImageUrl = '';
  const spec = createParams(wire(req)).spec;
  t.same(spec.subscribe, { audio: { block: ['x'] }, video: null });
  const local = createParams({ ...wire(minimal()), StorageParams: { CloudStorage: null, CloudVod: null } }).spec;
  t.same(local.storage, { kind: 'local' }, 'nulls are absent fields');
});

t.test('Describe / Modify / Delete parameters', async (t) => {
  t.equal(taskIdParam({ TaskId: 'rec_Ab-9.x=' }), 'rec_Ab-9.x=');
  const missing = error(() => taskIdParam({ SdkAppId: 1400188366 }));
  t.equal(missing.code, 'MissingParameter.TaskId');
  t.match(missing.message, /TaskId is missing: send the TaskId that CreateCloudRecording returned\./);
  t.equal(error(() => taskIdParam({ TaskId: 12 })).code, 'InvalidParameter.OutOfRange');
  t.equal(error(() => taskIdParam({ TaskId: 'a b' })).code, 'InvalidParameter.OutOfRange');

  const describe: M.DescribeCloudRecordingRequest = { SdkAppId: 1400188366, TaskId: 'task-1' };
  t.same(describeParams(wire(describe)), { sdkAppId: 1400188366, taskId: 'task-1' });
  const relay = error(() => describeParams(wire({ ...describe, RecorderKey: 'relay-key' })));
  t.equal(relay.code, 'FailedOperation.CRUnsupportMethod');
  t.match(relay.message, /RecorderKey names a relay-to-CDN recording/);
  t.equal(error(() => describeParams(wire({ TaskId: 'task-1' }))).code, 'MissingParameter.SdkAppId');

  // A full overwrite: what is not sent goes back to everyone / the default layout.
  const bare: M.ModifyCloudRecordingRequest = { SdkAppId: 1400188366, TaskId: 'task-1' };
  t.same(modifyParams(wire(bare)), { subscribe: { audio: null, video: null }, layout: null });
  const modify: M.ModifyCloudRecordingRequest = {
    ...bare,
    SubscribeStreamUserIds: { SubscribeVideoUserIds: ['1.*$'] },
    MixLayoutParams: { MixLayoutMode: 2, MaxResolutionUserId: 'teacher', MaxResolutionUserAlign: 1 },
  };
  const changes = modifyParams(wire(modify));
  t.same(changes.subscribe, { audio: null, video: { allow: ['1.*$'] } });
  t.same(changes.layout, { ...defaultMixLayout(), mode: 2, maxResolutionUserId: 'teacher', maxResolutionUserAlign: 1 });
  // Modify does not repeat the canvas: only [0, 1920] is checked here, the fit is the task's.
  const far = { ...bare, MixLayoutParams: { MixLayoutMode: 4, MixLayoutList: [{ Top: 1000, Left: 1800, Width: 120, Height: 80 }] } };
  t.equal(modifyParams(wire(far)).layout!.rects[0]!.x, 1800);
  const tooFar = error(() => modifyParams(wire({ ...far, MixLayoutParams: { MixLayoutMode: 4, MixLayoutList: [{ Top: 0, Left: 1921, Width: 1, Height: 1 }] } })));
  t.equal(tooFar.code, 'InvalidParameter.OutOfRange');
  t.match(tooFar.message, /MixLayoutParams.MixLayoutList\[0\].Left must be an integer from 0 to 1920/);
  const both = error(() => modifyParams(wire({ ...bare, SubscribeStreamUserIds: { SubscribeVideoUserIds: ['a'], UnSubscribeVideoUserIds: ['b'] } })));
  t.match(both.message, /^SubscribeStreamUserIds sets both SubscribeVideoUserIds and UnSubscribeVideoUserIds/);
  const watermark = error(() => modifyParams(wire({ ...bare, MixLayoutParams: { MixLayoutMode: 3, WaterMarkList: [{ WaterMarkType: 2 }] } })));
  t.equal(watermark.code, 'FailedOperation.CRUnsupportMethod');
});

t.test('subscribes(): exact ids, "<prefix>.*$" patterns, allow and block', async (t) => {
  t.ok(subscribes(null, 'anyone'), 'no list: everyone');
  const allow = { allow: ['alice', '1.*$'] };
  t.ok(subscribes(allow, 'alice'));
  t.notOk(subscribes(allow, 'alice2'), 'an exact id is not a prefix');
  t.ok(subscribes(allow, '1'), 'the prefix itself');
  t.ok(subscribes(allow, '1686119'));
  t.notOk(subscribes(allow, '21'), 'a prefix matches at the start only');
  t.notOk(subscribes({ allow: ['a.b.*$'] }, 'aXb1'), 'the prefix is literal text, not a regular expression');
  t.ok(subscribes({ allow: ['.*$'] }, 'x'), 'an empty prefix: everyone');
  t.ok(subscribes(allow, '1.*$'), 'a user literally named like the pattern is that exact id');
  const block = { block: ['guest_.*$', 'bob'] };
  t.notOk(subscribes(block, 'guest_7'));
  t.notOk(subscribes(block, 'bob'));
  t.ok(subscribes(block, 'alice'));
  t.ok(subscribes(block, 'guest'), 'short of the prefix');
  t.notOk(subscribes({ allow: [] }, 'alice'), 'an empty allowlist (never produced by the parameters) lets no one in');
});
