// Malformed RTMP commands reach node-media-server's parser through GuardedRtmp: each is refused or caught at its
// edge, counted by kind in GET /api/limits and closes only its own connection. Sent over raw sockets so the bytes are
// exactly the ones under test.

import t from 'tap';
import { connect } from 'node:net';
import Rtmp from 'node-media-server/src/protocol/rtmp.js';
import { encodeAmf0Cmd } from 'node-media-server/src/protocol/amf.js';
import { startTestGateway, officialUserSig, TEST_APP } from '../helpers/gateway.js';
import { rtmpErrorKind, RtmpProtocolError } from '../../src/ingest/rtmp/parse-errors.js';

const g = await startTestGateway({ rtmp: { port: 0, publishTimeoutMs: 3000 } });
t.teardown(() => g.close());
const port = g.gw.rtmp.port;
let unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
process.on('unhandledRejection', onUnhandled);
t.teardown(() => void process.off('unhandledRejection', onUnhandled));

/** SetChunkSize 65535 (what node-media-server's chunksCreate cuts at), then each command on chunk stream 3. */
function commands(...cmds: Record<string, unknown>[]): Buffer {
  const setChunkSize = Buffer.from('02000000000004010000000000000000', 'hex');
  setChunkSize.writeUInt32BE(0xffff, 12);
  return Buffer.concat([setChunkSize, ...cmds.map((c) => rawCommand(encodeAmf0Cmd(c)))]);
}

function rawCommand(payload: Buffer, streamId = 0): Buffer {
  return Rtmp.chunksCreate({ header: { fmt: 0, cid: 3, timestamp: 0, length: payload.length, type: 20, stream_id: streamId }, payload });
}

/** Handshake (C0 C1, wait for S0 S1 S2, C2), then `bytes`; resolves with what the gateway sent after S0S1S2 once it closes. */
function session(bytes: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536)])));
    let got = Buffer.alloc(0);
    let sent = false;
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (!sent && got.length >= 3073) {
        sent = true;
        s.write(Buffer.concat([Buffer.alloc(1536), bytes]));
      }
    });
    s.on('error', () => {});
    s.on('close', () => resolve(got.subarray(3073).toString('latin1')));
  });
}

const counts = async () => (await g.getJson('/api/limits')).body['rtmp.parseError'] ?? {};
const connectCmd = (cmdObj: unknown) => ({ cmd: 'connect', transId: 1, cmdObj });

t.test('a connect whose tcUrl is not a URL gets _error with the reason and counts as invalid-url', async (t) => {
  const before = (await counts())['invalid-url'] ?? 0;
  const reply = await session(commands(connectCmd({ app: 'push', tcUrl: 'not a url', flashVer: 'FMLE/3.0' })));
  t.match(reply, /_error[\s\S]*NetConnection\.Connect\.Rejected[\s\S]*tcUrl is not a URL/);
  t.equal((await counts())['invalid-url'], before + 1);
});

t.test('an app that is not a string is refused at connect (it used to reject a promise unhandled at publish)', async (t) => {
  unhandled = [];
  const user = 'amy';
  const name = `room-x?sdkappid=${TEST_APP.sdkAppId}&userid=${user}&usersig=${officialUserSig(user)}`;
  const reply = await session(
    commands(
      connectCmd({ app: 5, tcUrl: `rtmp://127.0.0.1:${port}/push` }),
      { cmd: 'createStream', transId: 2, cmdObj: null },
      { cmd: 'publish', transId: 3, cmdObj: null, streamName: name, type: 'live' },
    ),
  );
  t.match(reply, /no app name/);
  t.same(unhandled, [], 'no unhandled rejection');
  t.ok((await counts())['bad-command'] >= 1);
});

t.test('a publish without a string stream name gets BadName and counts as bad-command', async (t) => {
  const before = (await counts())['bad-command'] ?? 0;
  const reply = await session(
    commands(connectCmd({ app: 'push', tcUrl: `rtmp://127.0.0.1:${port}/push` }), { cmd: 'publish', transId: 3, cmdObj: null, streamName: 42 }),
  );
  t.match(reply, /NetStream\.Publish\.BadName[\s\S]*no stream name/);
  t.equal((await counts())['bad-command'], before + 1);
});

t.test('AMF0 that node-media-server cannot decode counts as amf', async (t) => {
  const before = (await counts())['amf'] ?? 0;
  // "connect", 1, then an object whose first value has the unknown type marker 0x0d (null-deref inside the decoder)
  const bad = Buffer.concat([
    Buffer.from([0x02, 0x00, 0x07]), Buffer.from('connect'),
    Buffer.from([0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]),
    Buffer.from([0x03, 0x00, 0x03]), Buffer.from('app'), Buffer.from([0x0d, 0x00, 0x00, 0x09]),
  ]);
  // and one cut short inside a number (a Buffer read out of range)
  const short = Buffer.from([0x02, 0x00, 0x07, ...Buffer.from('connect'), 0x00, 0x3f]);
  for (const body of [bad, short]) {
    const setChunkSize = commands();
    await session(Buffer.concat([setChunkSize, rawCommand(body)]));
  }
  t.equal((await counts())['amf'], before + 2);
  t.equal((await fetch(`${g.httpBase}/healthz`)).status, 200);
});

t.test('a WindowAcknowledgementSize shorter than its 32-bit value counts as control', async (t) => {
  const before = (await counts())['control'] ?? 0;
  // chunk stream 2, type 5, length 0: node-media-server read 4 bytes from an empty buffer (an out-of-range throw)
  await session(Buffer.from('02000000000000050000000002', 'hex')); // + a byte: the parser acts on the next one
  t.equal((await counts())['control'], before + 1);
});

t.test('error kinds come from the class and code, never from the message text of the input', async (t) => {
  t.equal(rtmpErrorKind(new RtmpProtocolError('x')), 'limit');
  t.equal(rtmpErrorKind(new TypeError("Cannot read properties of null (reading 'len')")), 'null-deref');
  t.equal(rtmpErrorKind(Object.assign(new RangeError('The value of "offset" is out of range.'), { code: 'ERR_OUT_OF_RANGE' })), 'out-of-range');
  let urlError: unknown;
  try {
    new URL('nope');
  } catch (e) {
    urlError = e;
  }
  t.equal(rtmpErrorKind(urlError), 'invalid-url');
  t.equal(rtmpErrorKind('a string'), 'other');
});
