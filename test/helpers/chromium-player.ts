// Chromium's own <video> playing a recorded file over HTTP, the way an operator's browser would: progressive
// download with byte ranges, Chromium's demuxer and decoders (H.264, AAC, Opus in MP4). The tests read what the
// element reports and the colour of the picture it shows.

import type { Browser, Page } from 'playwright-core';

export interface PlayerState {
  currentTime: number;
  /** getVideoPlaybackQuality().totalVideoFrames: frames the decoder produced for display. */
  totalVideoFrames: number;
  videoWidth: number;
  videoHeight: number;
  /** Chromium's webkitAudioDecodedByteCount: bytes of compressed audio it decoded (-1 where the API is missing). */
  audioDecodedBytes: number;
  /** The MediaError's code and message, '' while none. */
  error: string;
  ended: boolean;
  /** Mean RGB of the picture's centre half as the element shows it now (drawn into a canvas), or null before a frame. */
  centre: [number, number, number] | null;
}

export interface RecordingPlayer {
  page: Page;
  state(): Promise<PlayerState>;
  close(): Promise<void>;
}

/**
 * Opens a page on `origin` (the gateway, so the file is same-origin and the canvas is not tainted) with a muted,
 * autoplaying `<video src=fileUrl>`.
 */
export async function openRecordingPlayer(browser: Browser, origin: string, fileUrl: string): Promise<RecordingPlayer> {
  const page = await browser.newPage();
  await page.goto(`${origin}/healthz`);
  await page.evaluate((src) => {
    const v = document.createElement('video');
    v.id = 'player';
    v.muted = true;
    v.autoplay = true;
    v.src = src;
    document.body.appendChild(v);
  }, fileUrl);
  return {
    page,
    state: () =>
      page.evaluate(() => {
        const v = document.getElementById('player') as HTMLVideoElement & { webkitAudioDecodedByteCount?: number };
        let centre: [number, number, number] | null = null;
        if (v.videoWidth > 0) {
          const c = document.createElement('canvas');
          c.width = v.videoWidth;
          c.height = v.videoHeight;
          const ctx = c.getContext('2d')!;
          ctx.drawImage(v, 0, 0);
          const px = ctx.getImageData(c.width / 4, c.height / 4, c.width / 2, c.height / 2).data;
          const sum = [0, 0, 0];
          for (let i = 0; i < px.length; i += 4) for (let k = 0; k < 3; k++) sum[k]! += px[i + k]!;
          const n = px.length / 4;
          centre = [Math.round(sum[0]! / n), Math.round(sum[1]! / n), Math.round(sum[2]! / n)];
        }
        return {
          currentTime: v.currentTime,
          totalVideoFrames: v.getVideoPlaybackQuality().totalVideoFrames,
          videoWidth: v.videoWidth,
          videoHeight: v.videoHeight,
          audioDecodedBytes: v.webkitAudioDecodedByteCount ?? -1,
          error: v.error ? `${v.error.code} ${v.error.message}` : '',
          ended: v.ended,
          centre,
        };
      }),
    close: () => page.close(),
  };
}
