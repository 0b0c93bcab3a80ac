// SEI NAL units of src/media/h264-sei.ts, read by ffmpeg's H.264 decoder: a user_data_unregistered message whose
// content holds start-code-like bytes (so emulation prevention must be right) is put into a libx264 stream before
// its first slice; ffprobe decodes every frame, and ffmpeg's header trace reads the message's UUID and size.

import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseSei, seiNal, userDataUnregistered } from '../../src/media/h264-sei.js';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'rg-sei-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const UUID = 'f0e1d2c3b4a5968778695a4b3c2d1e0f';

t.test('escaping and sizes round-trip; a payload type of 255 or more takes 0xFF bytes', async (t) => {
  const tricky = Buffer.from([0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0xff]);
  const nal = seiNal(100, tricky);
  for (let i = 2; i < nal.length; i++) t.notOk(nal[i - 2] === 0 && nal[i - 1] === 0 && nal[i]! <= 2, `no 00 00 0${nal[i]} at ${i}`);
  t.same(parseSei(nal), [{ type: 100, payload: tricky }]);
  const long = Buffer.alloc(300, 7);
  t.same(parseSei(seiNal(300, long)), [{ type: 300, payload: long }]);
  t.equal(seiNal(300, long).subarray(1, 4).toString('hex'), 'ff2dff', 'type 300 = 255 + 45, then size 300 = 255 + …');
  t.throws(() => userDataUnregistered('xyz', Buffer.alloc(0)), /32 hex digits/);
});

t.test('ffmpeg decodes a stream carrying one, and reads its UUID and content', async (t) => {
  const { stdout } = await exec('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-frames:v', '5',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-x264-params', 'no-info=1', '-f', 'h264', '-'], { encoding: 'buffer' });
  const h264 = stdout as unknown as Buffer;
  // before the first slice (NAL type 1 or 5) of the stream
  let at = -1;
  for (let i = h264.indexOf(Buffer.from([0, 0, 1])); i >= 0; i = h264.indexOf(Buffer.from([0, 0, 1]), i + 3)) {
    const type = h264[i + 3]! & 0x1f;
    if (type === 1 || type === 5) {
      at = i > 0 && h264[i - 1] === 0 ? i - 1 : i;
      break;
    }
  }
  const content = Buffer.concat([Buffer.from('roomgate '), Buffer.from([0, 0, 1, 0, 0, 0, 3])]);
  const sei = Buffer.concat([Buffer.from([0, 0, 0, 1]), seiNal(5, userDataUnregistered(UUID, content))]);
  const file = join(dir, 'with-sei.h264');
  writeFileSync(file, Buffer.concat([h264.subarray(0, at), sei, h264.subarray(at)]));
  const probe = await exec('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file]);
  t.equal(Number(probe.stdout.trim()), 5, 'every frame decoded');
  // ffmpeg's own reading of the SEI messages (its trace_headers filter): each user_data_unregistered's UUID bytes
  const trace = await exec('ffmpeg', ['-v', 'info', '-i', file, '-c', 'copy', '-bsf:v', 'trace_headers', '-f', 'null', '-'], { maxBuffer: 64 << 20 });
  const bytes = [...trace.stderr.matchAll(/uuid_iso_iec_11578\[\d+\]\s+[01]+\s+=\s+(\d+)/g)].map((m) => Number(m[1]));
  const uuids = Array.from({ length: bytes.length / 16 }, (_, i) => Buffer.from(bytes.slice(i * 16, i * 16 + 16)).toString('hex'));
  t.ok(uuids.includes(UUID), `ffmpeg read our UUID among the stream's SEI messages (${uuids.length})`);
  const payloadSizes = [...trace.stderr.matchAll(/last_payload_size_byte\s+[01]+\s+=\s+(\d+)/g)].map((m) => Number(m[1]));
  t.ok(payloadSizes.includes(16 + content.length), `and its size, ${16 + content.length} bytes, the escapes not counted`);
});
