// The start-up check of werift's internals (src/werift-internals.ts): it passes on the installed werift, quickly
// and once per process, and a shape that differs is reported in one sentence naming the version and the field.

import t from 'tap';
import {
  checkWerift,
  DTLS_TRANSPORT_SHAPE,
  shapeProblem,
  weriftVersion,
  WeriftShapeError,
  WERIFT_TESTED_WITH,
  assertShape,
} from '../../src/werift-internals.js';

t.test('the installed werift has every shape roomgate relies on', async (t) => {
  const started = performance.now();
  await checkWerift();
  const took = performance.now() - started;
  t.ok(took < 1500, `connected and checked in ${took.toFixed(0)} ms`);
  const again = performance.now();
  await checkWerift();
  t.ok(performance.now() - again < 5, 'the result is cached for the process');
  t.equal(weriftVersion(), WERIFT_TESTED_WITH, 'the version is read from werift/package.json');
});

t.test('a DTLS transport missing its cipher is named with the version', async (t) => {
  const broken = {
    role: 'server',
    state: 'connected',
    updateSrtpSession() {},
    sendRtcp: async () => {},
    iceTransport: {
      state: 'connected',
      start: async () => {},
      connection: {
        stunServer: undefined,
        state: 'connected',
        canSendApplicationData: () => true,
        nominated: { remoteAddr: ['127.0.0.1', 1], protocol: { transport: { type: 'udp', socket: {}, closed: false } } },
      },
    },
    srtp: {
      decrypt: (b: Buffer) => b,
      config: {
        profile: 1,
        keys: { localMasterKey: Buffer.alloc(16), localMasterSalt: Buffer.alloc(14), remoteMasterKey: Buffer.alloc(16), remoteMasterSalt: Buffer.alloc(14) },
      },
    },
    dtls: {
      sessionType: 1,
      dtls: { version: { major: 254, minor: 253 }, epoch: 1, recordSequenceNumber: 0 },
      transport: { send() {} },
    },
  };
  t.equal(shapeProblem('RTCDtlsTransport', broken, DTLS_TRANSPORT_SHAPE), 'RTCDtlsTransport.dtls.cipher is missing');
  t.throws(() => assertShape('RTCDtlsTransport', broken, DTLS_TRANSPORT_SHAPE, '0.26.0'), {
    message: `roomgate: werift 0.26.0 is not the shape roomgate relies on: RTCDtlsTransport.dtls.cipher is missing (tested with ${WERIFT_TESTED_WITH})`,
  });
  const err = new WeriftShapeError('RTCRtpSender.seqOffset is missing');
  t.match(err.message, `werift ${weriftVersion()} is not the shape`, 'the installed version by default');

  const wrongType = { ...broken, dtls: { ...broken.dtls, cipher: { cipher: { encrypt: 'no' } } } };
  t.equal(shapeProblem('RTCDtlsTransport', wrongType, DTLS_TRANSPORT_SHAPE), 'RTCDtlsTransport.dtls.cipher.cipher.encrypt is string, not function');
  t.equal(shapeProblem('RTCDtlsTransport', { ...wrongType, dtls: { ...wrongType.dtls, cipher: { cipher: { encrypt() {} } } } }, DTLS_TRANSPORT_SHAPE), null);
});
