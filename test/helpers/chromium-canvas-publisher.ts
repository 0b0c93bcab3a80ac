// Chromium publishing over WHIP a picture the test knows: a canvas painted one solid colour, captured with
// canvas.captureStream(), with the fake microphone's beeps as audio. A recording of it can then be checked frame by
// frame for that colour, which the fake camera's moving pattern does not allow.

import type { Browser } from 'playwright-core';
import { offeringPage, type OfferingPage } from './chromium.js';

export interface CanvasPublisherOptions {
  /** A CSS colour filling the picture, e.g. '#00c000'. */
  colour: string;
  width: number;
  height: number;
}

/**
 * Opens a page on the gateway's origin that publishes the canvas (30 fps, H.264 preferred) and the fake microphone
 * to `whipPath`. The canvas is repainted every frame, because captureStream only emits a frame when the canvas
 * changes; a small square moves in the top-left corner so the encoder keeps sending real frames, away from the
 * centre the tests sample.
 */
export async function openCanvasWhipPublisher(
  browser: Browser,
  httpBase: string,
  whipPath: string,
  token: string,
  o: CanvasPublisherOptions,
): Promise<OfferingPage> {
  const page = await offeringPage(browser, httpBase);
  const result = await page.evaluate(
    async ({ url, token, colour, width, height }) => {
      const w = window as any;
      const canvas = document.createElement('canvas');
      canvas.width = width;
      canvas.height = height;
      document.body.appendChild(canvas);
      const ctx = canvas.getContext('2d')!;
      let n = 0;
      const paint = () => {
        ctx.fillStyle = colour;
        ctx.fillRect(0, 0, width, height);
        ctx.fillStyle = '#ffffff';
        ctx.fillRect((n++ * 2) % (width / 8), 0, 8, 8);
      };
      paint();
      w.painter = setInterval(paint, 1000 / 30);
      const video = canvas.captureStream(30).getVideoTracks()[0]!;
      // 'detail' makes WebRTC keep the resolution under CPU or bandwidth pressure (it drops frame rate instead), so
      // the recording has the canvas's size on a busy machine too
      video.contentHint = 'detail';
      const mic = (await navigator.mediaDevices.getUserMedia({ audio: true })).getAudioTracks()[0]!;
      const pc = new RTCPeerConnection();
      w.pc = pc;
      const vt = pc.addTransceiver(video, { direction: 'sendonly' });
      const h264 = RTCRtpSender.getCapabilities('video')!.codecs.filter(
        (c) => /h264/i.test(c.mimeType) && /packetization-mode=1/.test(c.sdpFmtpLine ?? ''),
      );
      vt.setCodecPreferences(h264);
      pc.addTransceiver(mic, { direction: 'sendonly' });
      await pc.setLocalDescription(await pc.createOffer());
      return (await w.sendOffer(url, token)) as { status: number; body: string; location: string | null; offer: string };
    },
    { url: httpBase + whipPath, token, ...o },
  );
  return { page, ...result, close: () => page.close() };
}
