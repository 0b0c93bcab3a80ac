// OBS Studio 29 (Debian's obs-studio) as a real RTMP publisher, headless under Xvfb, with a profile written the way
// OBS writes it: Custom service (Server + Stream key), Simple output mode with OBS's default encoder settings
// (x264 with B-frames, as every new OBS install has), and a scene that loops a test-pattern clip.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, type Run } from './clients.js';

export interface ObsRun extends Run {
  home: string;
}

export function startObs(home: string, server: string, streamKey: string, clip: string): ObsRun {
  const cfg = join(home, '.config', 'obs-studio');
  const profile = join(cfg, 'basic', 'profiles', 'roomgate');
  mkdirSync(profile, { recursive: true });
  mkdirSync(join(cfg, 'basic', 'scenes'), { recursive: true });
  writeFileSync(
    join(cfg, 'global.ini'),
    '[General]\nPre19Defaults=false\nPre21Defaults=false\nPre23Defaults=false\nPre24.1Defaults=false\nFirstRun=false\nLastVersion=486539266\n' +
      '[Basic]\nProfile=roomgate\nProfileDir=roomgate\nSceneCollection=roomgate\nSceneCollectionFile=roomgate\n',
  );
  writeFileSync(
    join(profile, 'basic.ini'),
    '[General]\nName=roomgate\n[Output]\nMode=Simple\n[SimpleOutput]\nVBitrate=1500\nABitrate=128\nStreamEncoder=x264\n' +
      '[Video]\nBaseCX=640\nBaseCY=360\nOutputCX=640\nOutputCY=360\nFPSType=0\nFPSCommon=30\n',
  );
  writeFileSync(join(profile, 'service.json'), JSON.stringify({ type: 'rtmp_custom', settings: { server, key: streamKey } }));
  const source = {
    id: 'ffmpeg_source', versioned_id: 'ffmpeg_source', name: 'clip', uuid: 'f0a4f1d2-0000-4000-8000-000000000001',
    settings: { local_file: clip, looping: true, is_local_file: true },
  };
  const scene = {
    id: 'scene', versioned_id: 'scene', name: 'Scene', uuid: 'f0a4f1d2-0000-4000-8000-000000000002',
    settings: { items: [{ name: 'clip', source_uuid: source.uuid, visible: true, id: 1, pos: { x: 0, y: 0 }, scale: { x: 1, y: 1 } }], id_counter: 1 },
  };
  writeFileSync(
    join(cfg, 'basic', 'scenes', 'roomgate.json'),
    JSON.stringify({ name: 'roomgate', current_scene: 'Scene', current_program_scene: 'Scene', scene_order: [{ name: 'Scene' }], sources: [scene, source] }),
  );
  const r = run(
    'xvfb-run',
    ['-a', '-s', '-screen 0 1280x720x24', 'env', `HOME=${home}`, 'LIBGL_ALWAYS_SOFTWARE=1', 'obs', '--startstreaming', '--multi',
      '--disable-missing-files-check', '--disable-updater', '--profile', 'roomgate', '--collection', 'roomgate'],
    120000,
  );
  return Object.assign(r, { home });
}
