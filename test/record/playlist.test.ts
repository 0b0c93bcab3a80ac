import t from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Playlist } from '../../src/record/playlist.js';

t.test('a playlist carries the TRTC tags, rounds the target duration up to the longest segment and ends with ENDLIST', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rg-playlist-'));
  try {
    const path = join(dir, 'a_video.m3u8');
    const p = new Playlist(path, 1622425551884, { width: 1920, height: 1080 });
    await p.add({ name: 'a_video_20210531014551884.ts', durationMs: 12074, discontinuity: false });
    await p.add({ name: 'a_video_20210531014603958.ts', durationMs: 11901, discontinuity: true });
    let text = await readFile(path, 'utf8');
    t.same(text.trim().split('\n'), [
      '#EXTM3U',
      '#EXT-X-VERSION:3',
      '#EXT-X-ALLOW-CACHE:NO',
      '#EXT-X-MEDIA-SEQUENCE:0',
      '#EXT-X-TARGETDURATION:12',
      '#EXT-X-TRTC-START-REC-TIME:1622425551884',
      '#EXT-X-TRTC-VIDEO-METADATA:WIDTH:1920 HEIGHT:1080',
      '#EXTINF:12.074,',
      'a_video_20210531014551884.ts',
      '#EXT-X-DISCONTINUITY',
      '#EXTINF:11.901,',
      'a_video_20210531014603958.ts',
    ]);
    await p.end();
    text = await readFile(path, 'utf8');
    t.match(text, /#EXT-X-ENDLIST\n$/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

t.test('an audio playlist has no video metadata', async (t) => {
  const p = new Playlist('/nonexistent/a_audio.m3u8', 1, null);
  t.notMatch(p.render(), /VIDEO-METADATA/);
});
