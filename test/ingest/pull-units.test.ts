// Pure parts of pull ingest: the streaming FLV reader against the whole-file reader, the host rules, the plan, the
// retry schedule and the URL shown in logs.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlvStreamReader, FlvStreamError } from '../../src/ingest/pull/flv-stream-reader.js';
import { compileHostRules, hostRefusal, isInternalAddress } from '../../src/ingest/pull/host-rules.js';
import { streamUrlRefusal } from '../../src/ingest/pull/url-check.js';
import { ffmpegArgs, planFor, withoutRefusedTracks } from '../../src/ingest/pull/ffmpeg-args.js';
import { trackRefusals } from '../../src/auth/privileges.js';
import { parseProbe } from '../../src/ingest/pull/probe.js';
import { RetrySchedule } from '../../src/ingest/pull/retry-schedule.js';
import { redactUrl } from '../../src/ingest/pull/source-url.js';
import { readFlv } from '../media/helpers/flv-file.js';
import { makeMedia, PULL_MEDIA_DIR } from '../helpers/media-server.js';

t.test('the FLV stream reader yields the same tags however the bytes are split', async (t) => {
  const bytes = readFileSync(join(PULL_MEDIA_DIR, await makeMedia('flv-h264-aac', 2)));
  const expected = readFlv(bytes).tags.map((x) => `${x.type}/${x.timestamp}/${x.body.toString('base64')}`);
  for (const size of [1, 7, 11, 15, 1000, 65536, bytes.length]) {
    const got: string[] = [];
    const r = new FlvStreamReader((type, ts, body) => got.push(`${type}/${ts}/${body.toString('base64')}`));
    for (let i = 0; i < bytes.length; i += size) r.push(bytes.subarray(i, i + size));
    t.same(got, expected, `chunks of ${size} bytes`);
    t.ok(r.hasAudio && r.hasVideo, 'header flags');
  }
  // Random splits, including zero-length chunks.
  const got: string[] = [];
  const r = new FlvStreamReader((type, ts, body) => got.push(`${type}/${ts}/${body.toString('base64')}`));
  let i = 0;
  while (i < bytes.length) {
    const n = Math.floor(Math.random() * 3000);
    r.push(bytes.subarray(i, i + n));
    i += n;
  }
  t.same(got, expected, 'random chunks');
});

t.test('the FLV stream reader refuses what is not FLV', async (t) => {
  const r = new FlvStreamReader(() => {});
  t.throws(() => r.push(Buffer.from('<html><body>404</body></html>')), FlvStreamError);
  t.throws(() => r.push(Buffer.from('x')), /already broken/);
  const huge = new FlvStreamReader(() => {});
  const head = Buffer.from([0x46, 0x4c, 0x56, 1, 5, 0, 0, 0, 9, 0, 0, 0, 0]);
  const tag = Buffer.from([9, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0]);
  t.throws(() => huge.push(Buffer.concat([head, tag])), /too large/);
});

t.test('host rules: internal addresses need pull.allow; pull.deny wins', async (t) => {
  for (const a of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fe80::1', 'fd00::1', '::ffff:10.0.0.1', '224.0.0.1']) {
    t.ok(isInternalAddress(a), `${a} is internal`);
  }
  for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700::1111', '172.32.0.1']) t.notOk(isInternalAddress(a), `${a} is public`);
  const none = compileHostRules([], []);
  t.match(hostRefusal(none, 'cam.lan', ['192.168.1.20']), /internal .* pull\.allow/);
  t.equal(hostRefusal(none, 'cdn.example.com', ['93.184.216.34']), null);
  const rules = compileHostRules(['cam.lan', '10.0.0.0/8', '*.corp.example', 'fd00::/8'], ['evil.example.com', '93.184.216.0/24']);
  t.equal(hostRefusal(rules, 'cam.lan', ['192.168.1.20']), null, 'allowed by name');
  t.equal(hostRefusal(rules, 'x', ['10.9.8.7']), null, 'allowed by range');
  t.equal(hostRefusal(rules, 'media.corp.example', ['172.16.0.5']), null, 'allowed by suffix');
  t.equal(hostRefusal(rules, 'v6', ['fd12::5']), null, 'allowed IPv6 range');
  t.match(hostRefusal(rules, 'y', ['172.16.0.5']), /internal/, 'a range not listed');
  t.match(hostRefusal(rules, 'evil.example.com', ['8.8.8.8']), /pull\.deny/, 'denied by name');
  t.match(hostRefusal(rules, 'z', ['93.184.216.34']), /pull\.deny/, 'denied by range');
  t.throws(() => compileHostRules(['10.0.0.0/33'], []), /pull\.allow\[0\]: '10\.0\.0\.0\/33' is not a CIDR range/);
  t.throws(() => compileHostRules([], ['a b']), /pull\.deny\[0\]/);
});

t.test('stream URL check: scheme, literal IPs, names through the resolver', async (t) => {
  const rules = compileHostRules(['127.0.0.1'], []);
  const resolver = async (h: string) => (h === 'internal.test' ? ['10.0.0.5'] : h === 'public.test' ? ['8.8.4.4'] : []);
  t.equal(await streamUrlRefusal('http://127.0.0.1:8080/a.flv', rules, resolver), null);
  t.match(await streamUrlRefusal('file:///etc/passwd', rules, resolver), /not supported/);
  t.match(await streamUrlRefusal('http://internal.test/a.flv', rules, resolver), /resolves to 10\.0\.0\.5/);
  t.equal(await streamUrlRefusal('rtmp://public.test/live/x', rules, resolver), null);
  t.equal(await streamUrlRefusal('https://unresolvable.test/x.m3u8', rules, resolver), null, 'DNS failures are left to the pull');
  t.match(await streamUrlRefusal('http://[::1]/x', rules, resolver), /internal/);
});

t.test('the plan: copy what browsers decode, transcode the rest', async (t) => {
  const probe = (v: object | null, a: object | null, duration = '10') =>
    parseProbe({ streams: [...(v ? [{ codec_type: 'video', ...v }] : []), ...(a ? [{ codec_type: 'audio', ...a }] : [])], format: { duration } });
  const h264 = { codec_name: 'h264', profile: 'High', has_b_frames: 0, pix_fmt: 'yuv420p', width: 1280, height: 720, avg_frame_rate: '25/1' };
  const aac = { codec_name: 'aac', channels: 2, sample_rate: '48000' };
  t.match(planFor(probe(h264, aac)), { video: 'copy', audio: 'copy', fps: 25 });
  t.match(planFor(probe({ ...h264, has_b_frames: 2 }, aac)), { video: 'transcode', why: 'H.264 with B-frames' });
  t.match(planFor(probe({ ...h264, pix_fmt: 'yuv422p' }, aac)), { video: 'transcode' });
  t.match(planFor(probe({ ...h264, profile: 'High 10' }, aac)), { video: 'transcode' });
  t.match(planFor(probe({ ...h264, codec_name: 'hevc' }, aac)), { video: 'transcode', why: 'hevc video' });
  t.match(planFor(probe({ ...h264, width: 3840, height: 2160 }, aac)), { video: 'transcode' });
  t.match(planFor(probe(null, { codec_name: 'opus', channels: 6 })), { video: 'none', audio: 'transcode', downmix: true });
  t.equal(planFor(probe(null, null)), 'the source has neither audio nor video');
  const art = parseProbe({ streams: [{ codec_type: 'video', codec_name: 'mjpeg', disposition: { attached_pic: 1 } }, { codec_type: 'audio', codec_name: 'mp3' }] });
  t.equal(art.video, null, 'cover art is not video');
  t.equal(parseProbe({ streams: [], format: { duration: 'N/A' } }).durationSec, null, 'live: no duration');
  const args = ffmpegArgs('http://h/x.mp4', { video: 'transcode', audio: 'copy', fps: 25, why: '', downmix: false }, 2500);
  t.ok(args.includes('-re'), 'paced in real time');
  t.same(args.slice(args.indexOf('-ss'), args.indexOf('-ss') + 2), ['-ss', '2.500']);
  t.same(args.slice(args.indexOf('-g'), args.indexOf('-g') + 2), ['-g', '25'], 'GOP of 1 s');
  t.ok(args.includes('baseline') && args.includes('zerolatency'));
  t.equal(args[args.indexOf('-protocol_whitelist') + 1], 'http,https,tcp,tls,crypto,rtmp,httpproxy', 'no file: from playlists');
  t.same(args.slice(-1), ['pipe:1']);
});

t.test("the plan leaves out what the task user's key does not let in; nothing left is a sentence", async (t) => {
  const av = { video: 'copy', audio: 'transcode', fps: 25, why: '', downmix: false } as const;
  const audioKey = trackRefusals(2 | 4, 'publish');
  t.match(withoutRefusedTracks(av, audioKey), { video: 'none', audio: 'transcode' });
  t.notOk(ffmpegArgs('http://h/x.flv', withoutRefusedTracks(av, audioKey) as never, 0).includes('0:v:0'), 'ffmpeg never reads the video');
  t.match(withoutRefusedTracks(av, trackRefusals(2 | 16, 'publish')), { video: 'copy', audio: 'none' });
  t.same(withoutRefusedTracks(av, trackRefusals(255, 'publish')), av, 'a full key changes nothing');
  t.equal(
    withoutRefusedTracks({ ...av, audio: 'none' }, audioKey),
    "the source has video only, and the task's user lacks the privilege to send video (has enter, send audio)",
  );
});

t.test('retries count from the first failure of a series; success starts a new series', async (t) => {
  const r = new RetrySchedule([0, 1000, 3000]);
  t.same(r.failed(10_000), { attempt: 1, waitMs: 0 });
  t.same(r.failed(10_400), { attempt: 2, waitMs: 600 }, '1 s after the first failure, not after this one');
  t.same(r.failed(14_000), { attempt: 3, waitMs: 0 }, 'already past +3 s: at once');
  t.equal(r.failed(14_100), null, 'the schedule is used up');
  r.reset();
  t.same(r.failed(50_000), { attempt: 1, waitMs: 0 });
});

t.test('source URLs in logs and the API keep no query or userinfo', async (t) => {
  t.equal(redactUrl('https://user:secret@cdn.example.com/live/a.flv?token=abc'), 'https://cdn.example.com/live/a.flv');
  t.equal(redactUrl('not a url'), '(unparsable URL)');
});
