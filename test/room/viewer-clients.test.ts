// WHEP playback with two WebRTC stacks nobody here wrote: Debian's aiortc decodes what the gateway sends, and
// werift viewers (which only count RTP) check frame rate, sequence continuity, join time, and that a stalled
// viewer neither slows the others nor outlives the gateway's RTCP-silence watchdog. Runs in a network namespace
// with only loopback (scripts/test; see the README), like every WebRTC test.

import t from 'tap';
import { startTestGateway, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush } from '../helpers/clients.js';
import { aiortcViewer, weriftViewer, whepTarget, type WeriftViewerLine } from '../helpers/viewers.js';

const FPS = 30;
const ROOM = 'viewer-clients';
const { sdkAppId } = TEST_APP;

const g = await startTestGateway();
t.teardown(() => g.close());

// One publisher for the whole file: 640x360 at 30 fps with a 440 Hz tone, paced in real time, 1 s GOP.
const push = ffmpegPush(g.pushUrl(ROOM, 'anchor'), { seconds: 90, realtime: true, size: '640x360' });
t.teardown(() => push.stop());

async function room(): Promise<any> {
  const r = await g.getJson(`/api/rooms/${sdkAppId}/${ROOM}`);
  return r.status === 200 ? r.body : null;
}

await waitFor(async () => {
  const r = await room();
  return r?.users[0]?.video && r.users[0].audio && r.users[0].frames.keyframes >= 1;
}, 15000, 'the ffmpeg publisher with video, audio and a keyframe');

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

/** Frames per second of one werift viewer between two of its lines. */
function rate(from: WeriftViewerLine, to: WeriftViewerLine): number {
  return (to.frames - from.frames) / (to.t - from.t);
}

t.test('aiortc decodes the video at 640x360 and the audio tone', async (t) => {
  const seconds = 8;
  const run = await aiortcViewer({ ...whepTarget(g.httpBase, ROOM, 'aiortc-viewer'), seconds });
  t.equal(run.code, 0, `the aiortc viewer exits 0 ${run.output}`);
  const r = run.result;
  if (!r) return t.fail(`no result from the aiortc viewer: ${run.output}`);
  t.comment(
    `aiortc: ${r.frames} frames decoded in ${r.receiving_s} s (${round(r.frames / r.receiving_s)} fps), ` +
      `first frame ${r.first_frame_ms} ms after the POST, ${r.audio_frames} audio frames, audio RMS ${r.audio_rms}`,
  );
  t.same({ width: r.width, height: r.height }, { width: 640, height: 360 });
  t.ok(r.receiving_s > seconds - 2, `the first frame came within 2 s (${r.first_frame_ms} ms)`);
  // The GOP the gateway replays at join adds frames on top of the live 30/s; 80 % of the live count is the bar.
  t.ok(r.frames >= 0.8 * FPS * r.receiving_s, `decoded ${r.frames} ≥ 80 % of ${round(FPS * r.receiving_s, 0)} frames`);
  t.ok(r.audio_frames > 0, 'audio frames were decoded');
  // ffmpeg's sine source has amplitude 1/8: RMS 0.088 of full scale. Silence is 0.
  t.ok(r.audio_rms > 0.03, `audio RMS ${r.audio_rms} is well above silence`);
  await waitFor(async () => (await room())?.viewers === 0, 5000, 'the aiortc viewer gone after its DELETE');
});

t.test('a viewer that loses packets gets them again (NACK → retransmission from the send history)', async (t) => {
  // The viewer drops the first arrival of every 20th video packet (5 %); werift NACKs the holes and the gateway's
  // native sender answers from its history. Without retransmission every one of them would stay lost.
  const v = weriftViewer({ ...whepTarget(g.httpBase, ROOM, 'lossy-viewer'), seconds: 6, dropEvery: 20 });
  t.teardown(() => v.kill());
  const last = await v.waitLine((l) => l.final === true, 20000);
  t.comment(
    `lossy viewer: ${last.videoPackets} video packets, ${last.lostPackets} missing on arrival, ` +
      `${last.recoveredPackets} recovered, ${last.frames} complete frames, ${last.incompleteFrames} incomplete`,
  );
  t.ok(last.lostPackets >= 0.03 * last.videoPackets, `holes were made (${last.lostPackets})`);
  t.ok(last.recoveredPackets >= 0.9 * last.lostPackets, `≥ 90 % of them were retransmitted (${last.recoveredPackets} of ${last.lostPackets})`);
});

t.test('three werift viewers get every frame at 30/s without sequence gaps', async (t) => {
  const seconds = 6;
  const three = weriftViewer({ ...whepTarget(g.httpBase, ROOM, 'werift-viewer'), count: 3, seconds });
  // Beside them, for the record only: a viewer whose socket keeps Linux's default receive buffer (208 KiB).
  const small = weriftViewer({ ...whepTarget(g.httpBase, ROOM, 'werift-small-buffer'), seconds, recvBuffer: 0 });
  t.equal(await three.exited, 0, `the werift viewers exit 0 by themselves after their DELETE ${three.stderr()}`);
  t.notMatch(three.stderr(), /kept the process open/);
  await small.exited;

  for (let i = 0; i < 3; i++) {
    const mine = three.lines.filter((l) => l.viewer === i);
    const final = mine.find((l) => l.final);
    if (!final) {
      t.fail(`viewer ${i} printed no final line: ${three.stderr()}`);
      continue;
    }
    t.equal(final.state, 'closed');
    t.ok(final.firstKeyframeAt > 0, `viewer ${i} received a complete keyframe`);
    t.ok(final.firstKeyframeAt >= final.firstRtpAt && final.firstRtpAt >= final.postedAt);
    // The first second holds the replayed GOP; the steady rate is measured from the second line on.
    const second = mine.find((l) => l.fps !== undefined && l.t >= 1.9);
    const steady = second ? rate(second, final) : NaN;
    t.ok(steady >= FPS * 0.9 && steady <= FPS * 1.1, `viewer ${i}: ${round(steady)} complete frames/s`);
    t.same(
      { seqGaps: final.seqGaps, lostPackets: final.lostPackets, incompleteFrames: final.incompleteFrames },
      { seqGaps: 0, lostPackets: 0, incompleteFrames: 0 },
      `viewer ${i}: no sequence gap, every frame complete`,
    );
    t.ok(final.audioPackets >= 40 * (seconds - 2), `viewer ${i}: ${final.audioPackets} audio packets`);
    t.comment(
      `werift viewer ${i}: join → answer ${final.answerMs} ms, connected ${final.connectMs} ms, first RTP ` +
        `${final.firstRtpMs} ms, first complete keyframe ${final.firstKeyframeMs} ms; ${final.frames} frames ` +
        `(${round(steady)}/s steady), ${final.audioPackets} audio packets`,
    );
  }
  const s = small.lines.find((l) => l.final);
  if (s) {
    t.comment(
      `viewer with the OS default receive buffer (${s.recvBufferBytes} B): ${s.seqGaps} gap(s), ${s.lostPackets} ` +
        `packets missing on arrival, ${s.recoveredPackets} resent after NACK, ${s.incompleteFrames} incomplete ` +
        `frames, first keyframe ${s.firstKeyframeMs} ms`,
    );
  }
  await waitFor(async () => (await room())?.viewers === 0, 5000, 'the werift viewers gone after their DELETEs');
});

t.test('a stalled viewer does not slow another, and is closed after 15 s without RTCP', async (t) => {
  const stalled = weriftViewer(whepTarget(g.httpBase, ROOM, 'werift-stalled'));
  const other = weriftViewer(whepTarget(g.httpBase, ROOM, 'werift-other'));
  t.teardown(() => {
    stalled.kill();
    other.kill();
  });
  await stalled.waitLine((l) => l.firstKeyframeAt > 0 && l.t >= 1);
  await other.waitLine((l) => l.firstKeyframeAt > 0 && l.t >= 1);
  t.equal((await room())?.viewers, 2, 'two viewers in the room status');

  // Three seconds of the other viewer before the stall, as the baseline.
  const before = other.latest()!;
  await new Promise((r) => setTimeout(r, 3000));
  const baseline = rate(before, other.latest()!);

  const stoppedAt = Date.now();
  stalled.pause();
  const atStop = other.latest()!;
  let closedAfterMs = 0;
  while (Date.now() - stoppedAt < 20000) {
    await new Promise((r) => setTimeout(r, 250));
    if (!closedAfterMs && (await room())?.viewers === 1) closedAfterMs = Date.now() - stoppedAt;
  }
  const atResume = other.latest()!;
  stalled.resume();

  const during = rate(atStop, atResume);
  const seconds = other.linesBetween(stoppedAt + 1000, stoppedAt + 20000).map((l) => l.fps!);
  t.comment(
    `other viewer: ${round(baseline)} frames/s before, ${round(during)} frames/s during the 20 s stall ` +
      `(per second: min ${Math.min(...seconds)}, max ${Math.max(...seconds)}); stalled viewer closed by the gateway ` +
      `${round(closedAfterMs / 1000)} s after SIGSTOP`,
  );
  t.ok(during >= FPS * 0.9, `the other viewer kept ${round(during)} frames/s during the stall`);
  t.ok(during >= baseline * 0.9, `no slower than before the stall (${round(baseline)} frames/s)`);
  t.ok(seconds.length >= 15 && Math.min(...seconds) >= FPS * 0.75, 'no second of the stall fell below 75 % of 30 frames/s');
  t.equal(atResume.seqGaps, atStop.seqGaps, 'no sequence gap at the other viewer during the stall');
  t.equal(atResume.incompleteFrames, atStop.incompleteFrames, 'no incomplete frame at the other viewer during the stall');
  t.ok(closedAfterMs > 0, 'the gateway closed the stalled viewer (room status viewers 2 → 1)');
  // 15 s of RTCP silence, counted from its last receiver report (sent every 0.5–1.5 s), checked every 2 s.
  t.ok(closedAfterMs >= 13000 && closedAfterMs <= 19500, `closed ${round(closedAfterMs / 1000)} s after the SIGSTOP (~15 s)`);

  stalled.kill();
  await stalled.exited;
  other.stop();
  t.equal(await other.exited, 0, `the other viewer exits 0 after SIGTERM ${other.stderr()}`);
  t.ok(other.lines.some((l) => l.final && l.state === 'closed'), 'it printed its final line');
  await waitFor(async () => (await room())?.viewers === 0, 5000, 'no viewer left');
});
