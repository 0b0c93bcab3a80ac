// A WHIP publisher on @roamhq/wrtc (Google's libwebrtc; it has no H.264): audio only (an Opus tone), or, with
// --vp8-video, a video-only offer that can only be VP8/VP9/AV1. Prints one JSON line {status, location, body}, keeps
// publishing for --seconds, DELETEs, and exits (libwebrtc's threads would keep the process alive otherwise).
const wrtc = require('@roamhq/wrtc');
const { RTCPeerConnection, nonstandard } = wrtc;

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]?.startsWith('--') ? true : all[i + 1] ?? true]] : acc), []),
);
const seconds = Number(args.seconds ?? 8);

async function main() {
  const pc = new RTCPeerConnection();
  const timers = [];
  if (args['vp8-video']) {
    const source = new nonstandard.RTCVideoSource();
    pc.addTransceiver(source.createTrack(), { direction: 'sendonly' });
  } else {
    const source = new nonstandard.RTCAudioSource();
    pc.addTransceiver(source.createTrack(), { direction: 'sendonly' });
    let phase = 0;
    timers.push(
      setInterval(() => {
        const samples = new Int16Array(480);
        for (let i = 0; i < 480; i++) samples[i] = Math.round(8000 * Math.sin((phase++ * 2 * Math.PI * 440) / 48000));
        source.onData({ samples, sampleRate: 48000, bitsPerSample: 16, channelCount: 1, numberOfFrames: 480 });
      }, 10),
    );
  }
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
    setTimeout(resolve, 2000);
  });
  const res = await fetch(args.url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${args.token}` },
    body: pc.localDescription.sdp,
  });
  const body = await res.text();
  const location = res.headers.get('location');
  console.log(JSON.stringify({ status: res.status, location, body: res.status === 201 ? '' : body }));
  if (res.status === 201) {
    await pc.setRemoteDescription({ type: 'answer', sdp: body });
    await new Promise((r) => setTimeout(r, seconds * 1000));
    await fetch(new URL(location, args.url), { method: 'DELETE' }).catch(() => {});
  }
  timers.forEach(clearInterval);
  pc.close();
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
