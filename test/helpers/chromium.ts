// Headless Debian Chromium (playwright-core) as a real WebRTC client: a WHEP viewer whose decoder statistics the
// tests read. Chromium cannot decode B-frames, which is exactly why it is the reference viewer.

import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestGateway, type TestGateway } from './gateway.js';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--allow-loopback-in-peer-connection',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
}

/** A test gateway and a Chromium for one test file, both closed when the file's tests end. */
export async function gatewayWithChromium(
  t: { teardown(fn: () => Promise<void>): void },
  overrides: Record<string, unknown> = {},
): Promise<{ g: TestGateway; browser: Browser }> {
  const g = await startTestGateway(overrides);
  const browser = await launchChromium();
  t.teardown(async () => {
    await browser.close();
    await g.close();
  });
  return { g, browser };
}

/** A WHIP or WHEP client page after its POST. */
export interface OfferingPage {
  page: Page;
  status: number;
  /** The answer body, or the error text when status is not 201. */
  body: string;
  location: string | null;
  /** The offer as POSTed. */
  offer: string;
  close(): Promise<void>;
}

/**
 * A page on the gateway's origin with `window.sendOffer(url, token, withoutCandidates, answerPort)`: POSTs the local
 * offer of `window.pc` with the bearer (without any a=candidate line when asked, as OBS 30.2 sends it) and applies a
 * 201's answer (its UDP candidates' port replaced by `answerPort` when given). Each client page sets up its own `pc`
 * first.
 */
export async function offeringPage(browser: Browser, httpBase: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${httpBase}/healthz`);
  await page.evaluate(() => {
    (window as any).sendOffer = async (url: string, token: string, withoutCandidates = false, answerPort = 0) => {
      const pc = (window as any).pc as RTCPeerConnection;
      let offer = pc.localDescription!.sdp;
      if (withoutCandidates) offer = offer.replace(/^a=(candidate:.*|end-of-candidates)\r\n/gm, '');
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
        body: offer,
      });
      const body = await res.text();
      // answerPort: the server's UDP candidates are reached through a relay on that port (a lossy path in a test)
      const applied = answerPort ? body.replace(/^(a=candidate:\S+ \d+ udp \d+ \S+ )\d+/gim, `$1${answerPort}`) : body;
      if (res.status === 201) await pc.setRemoteDescription({ type: 'answer', sdp: applied });
      return { status: res.status, body, location: res.headers.get('Location'), offer };
    };
  });
  return page;
}

export interface ViewerStats {
  framesDecoded: number;
  framesReceived: number;
  keyFramesDecoded: number;
  frameWidth: number;
  frameHeight: number;
  pliCount: number;
  nackCount: number;
  packetsLost: number;
  totalSamplesReceived: number;
  audioPacketsReceived: number;
  connectionState: string;
  /** ms from the WHEP POST to the first decoded frame, or -1. */
  firstFrameMs: number;
  videoTrackState: string;
  /** RTCP sender reports Chromium has read for each track (remote-outbound-rtp reportsSent). */
  videoSenderReports: number;
  audioSenderReports: number;
}

export interface WhepViewer extends OfferingPage {
  stats(): Promise<ViewerStats>;
}

/**
 * Opens a page on the gateway's origin and plays `whepPath` with a recvonly offer. `page` may be reused to run
 * several viewers in one browser.
 */
export async function openWhepViewer(browser: Browser, httpBase: string, whepPath: string, token: string): Promise<WhepViewer> {
  const page = await offeringPage(browser, httpBase);
  const result = await page.evaluate(
    async ({ url, token }) => {
      const w = window as any;
      const pc = new RTCPeerConnection();
      w.pc = pc;
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      const video = document.createElement('video');
      video.muted = true;
      video.autoplay = true;
      document.body.appendChild(video);
      const stream = new MediaStream();
      video.srcObject = stream;
      w.videoTrackState = 'none';
      pc.ontrack = (e) => {
        stream.addTrack(e.track);
        if (e.track.kind === 'video') {
          w.videoTrackState = e.track.readyState;
          e.track.onended = () => (w.videoTrackState = 'ended');
        }
      };
      await pc.setLocalDescription(await pc.createOffer());
      w.postedAt = performance.now();
      w.firstFrameMs = -1;
      const sent = await w.sendOffer(url, token);
      const poll = setInterval(async () => {
        if (w.firstFrameMs >= 0) return clearInterval(poll);
        const r = await pc.getStats();
        r.forEach((s: any) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video' && s.framesDecoded > 0 && w.firstFrameMs < 0) {
            w.firstFrameMs = performance.now() - w.postedAt;
          }
        });
      }, 10);
      return sent as { status: number; body: string; location: string | null; offer: string };
    },
    { url: httpBase + whepPath, token },
  );
  return {
    page,
    ...result,
    stats: () =>
      page.evaluate(async () => {
        const w = window as any;
        const out: any = {
          framesDecoded: 0, framesReceived: 0, keyFramesDecoded: 0, frameWidth: 0, frameHeight: 0, pliCount: 0,
          nackCount: 0, packetsLost: 0, totalSamplesReceived: 0, audioPacketsReceived: 0,
          connectionState: w.pc.connectionState, firstFrameMs: w.firstFrameMs, videoTrackState: w.videoTrackState,
          videoSenderReports: 0, audioSenderReports: 0,
        };
        (await w.pc.getStats()).forEach((s: any) => {
          // the gateway's RTCP sender reports, as Chromium decrypted and read them (lip sync rests on these)
          if (s.type === 'remote-outbound-rtp') out[`${s.kind}SenderReports`] = s.reportsSent ?? 0;
          if (s.type !== 'inbound-rtp') return;
          if (s.kind === 'video') {
            Object.assign(out, {
              framesDecoded: s.framesDecoded ?? 0, framesReceived: s.framesReceived ?? 0,
              keyFramesDecoded: s.keyFramesDecoded ?? 0, frameWidth: s.frameWidth ?? 0, frameHeight: s.frameHeight ?? 0,
              pliCount: s.pliCount ?? 0, nackCount: s.nackCount ?? 0, packetsLost: s.packetsLost ?? 0,
            });
          } else if (s.kind === 'audio') {
            out.totalSamplesReceived = s.totalSamplesReceived ?? 0;
            out.audioPacketsReceived = s.packetsReceived ?? 0;
          }
        });
        return out;
      }),
    close: () => page.close(),
  };
}

export interface WhipPublisher extends OfferingPage {
  /** Outbound video stats of the publishing page. */
  stats(): Promise<{ framesEncoded: number; encoderImplementation: string; connectionState: string; pliCount: number }>;
}

/**
 * Chromium publishing its fake camera and microphone over WHIP with H.264 preferred (setCodecPreferences), the way
 * a browser publisher page would. `codec: 'VP8'` offers only VP8, for refusal tests.
 */
export async function openWhipPublisher(
  browser: Browser,
  httpBase: string,
  whipPath: string,
  token: string,
  opts: { codec?: 'H264' | 'VP8'; width?: number; height?: number; withoutCandidates?: boolean; answerPort?: number } = {},
): Promise<WhipPublisher> {
  const page = await offeringPage(browser, httpBase);
  const result = await page.evaluate(
    async ({ url, token, codec, width, height, withoutCandidates, answerPort }) => {
      const w = window as any;
      const media = await navigator.mediaDevices.getUserMedia({ video: { width, height, frameRate: 30 }, audio: true });
      const pc = new RTCPeerConnection();
      w.pc = pc;
      for (const track of media.getTracks()) {
        const tr = pc.addTransceiver(track, { direction: 'sendonly' });
        if (track.kind === 'video') {
          const caps = RTCRtpSender.getCapabilities('video')!.codecs;
          const wanted = caps.filter((c) =>
            codec === 'H264' ? /h264/i.test(c.mimeType) && /packetization-mode=1/.test(c.sdpFmtpLine ?? '') : /vp8/i.test(c.mimeType),
          );
          tr.setCodecPreferences(wanted);
        }
      }
      await pc.setLocalDescription(await pc.createOffer());
      return (await w.sendOffer(url, token, withoutCandidates, answerPort)) as { status: number; body: string; location: string | null; offer: string };
    },
    { url: httpBase + whipPath, token, codec: opts.codec ?? 'H264', width: opts.width ?? 640, height: opts.height ?? 360, withoutCandidates: opts.withoutCandidates ?? false, answerPort: opts.answerPort ?? 0 },
  );
  return {
    page,
    ...result,
    stats: () =>
      page.evaluate(async () => {
        const w = window as any;
        const out = { framesEncoded: 0, encoderImplementation: '', connectionState: w.pc.connectionState, pliCount: 0 };
        (await w.pc.getStats()).forEach((s: any) => {
          if (s.type === 'outbound-rtp' && s.kind === 'video') {
            out.framesEncoded = s.framesEncoded ?? 0;
            out.encoderImplementation = s.encoderImplementation ?? '';
            out.pliCount = s.pliCount ?? 0;
          }
        });
        return out;
      }),
    close: () => page.close(),
  };
}

export interface IceRestartResult {
  status: number;
  body: string;
  contentType: string | null;
  /** The server's ufrag before and after. */
  oldUfrag: string;
  newUfrag: string;
  /** Chromium's own new ufrag (the one its selected pair shows once the restart is through). */
  localUfrag: string;
}

/**
 * What a WHIP/WHEP client does on a network change (RFC 9725 §4.3.2), in the page's `window.pc`: a new offer with
 * new ICE credentials, its ICE part PATCHed to the resource, and the server's fragment applied as the new ICE
 * part of the answer.
 */
export function restartIceByPatch(page: Page, resourceUrl: string): Promise<IceRestartResult> {
  return page.evaluate(async (resource) => {
    const pc = (window as any).pc as RTCPeerConnection;
    const oldUfrag = /a=ice-ufrag:(\S+)/.exec(pc.currentRemoteDescription!.sdp)![1];
    pc.restartIce();
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise<void>((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
    });
    const offer = pc.localDescription!.sdp;
    const localUfrag = /a=ice-ufrag:(\S+)/.exec(offer)![1];
    const first = offer.split(/\r\n(?=m=)/)[1];
    const frag = [
      /a=ice-ufrag:.*/.exec(offer)![0], /a=ice-pwd:.*/.exec(offer)![0],
      first.split('\r\n')[0], /a=mid:.*/.exec(first)![0], ...(first.match(/a=candidate:.*/g) ?? []), 'a=end-of-candidates',
    ].join('\r\n') + '\r\n';
    const res = await fetch(resource, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': '*' }, body: frag });
    const body = await res.text();
    const contentType = res.headers.get('Content-Type');
    if (res.status !== 200) return { status: res.status, body, contentType, oldUfrag, newUfrag: '', localUfrag };
    const ufrag = /a=ice-ufrag:(\S+)/.exec(body)![1];
    const pwd = /a=ice-pwd:(\S+)/.exec(body)![1];
    const candidates = body.match(/a=candidate:.*/g) ?? [];
    const answer = pc.currentRemoteDescription!.sdp
      .replace(/a=ice-ufrag:.*/g, `a=ice-ufrag:${ufrag}`)
      .replace(/a=ice-pwd:.*/g, `a=ice-pwd:${pwd}`)
      .replace(/a=(candidate:.*|end-of-candidates)\r\n/g, '')
      .replace(/(a=mid:.*\r\n)/, `$1${candidates.map((c) => c + '\r\n').join('')}`);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    return { status: res.status, body, contentType, oldUfrag, newUfrag: ufrag, localUfrag };
  }, resourceUrl);
}

/** The local ufrag of the page's selected ICE candidate pair ('' while none is selected). */
export function selectedLocalUfrag(page: Page): Promise<string> {
  return page.evaluate(async () => {
    let ufrag = '';
    (await ((window as any).pc as RTCPeerConnection).getStats()).forEach((s: any) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) ufrag = s.iceLocalUsernameFragment ?? '';
    });
    return ufrag;
  });
}
