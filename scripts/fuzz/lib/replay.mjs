// Plays one (mutated) recording against the gateway like ffmpeg would: C0 C1; once S0 S1 S2 is in (or after a short
// wait when a damaged C0 C1 gets no answer) C2 and the commands; once the publish is answered (or after a wait) the
// media, then a FIN. Waiting for the answer matters: media sent before Publish.Start is parsed by JavaScript while
// auth runs, media sent after it goes to the native data plane, as with a real encoder. The gateway's answers are
// read and dropped (so our side never resets the connection on unread data).

import { connect } from 'node:net';

const S0S1S2 = 1 + 2 * 1536;

/**
 * @returns {Promise<'closed' | 'refused' | 'no-handshake' | 'timeout' | 'connect-error'>} how the case ended:
 * `closed` the gateway closed after reading our FIN, `no-handshake` it never sent S0 S1 S2, `timeout` it still held
 * the connection `timeoutMs` after our FIN, `refused` it closed (or reset) before we had sent everything.
 */
export function replay({ host, port, c0c1, c2, rest, mediaAt, handshakeWaitMs = 300, publishWaitMs = 500, timeoutMs = 5000 }) {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    let got = 0;
    let sentAll = false;
    let handshook = false;
    let outcome = null;
    let answers = '';
    let sentCommands = false;
    const timers = [];
    const finish = (o) => {
      outcome ??= o;
    };
    const sendCommands = () => {
      if (sentCommands || s.destroyed) return;
      sentCommands = true;
      s.write(Buffer.concat([c2, rest.subarray(0, mediaAt)]));
      timers.push(setTimeout(sendMedia, publishWaitMs));
    };
    const sendMedia = () => {
      if (sentAll || s.destroyed) return;
      sentAll = true;
      s.end(rest.subarray(mediaAt));
      timers.push(setTimeout(() => (finish('timeout'), s.destroy()), timeoutMs));
    };
    s.once('connect', () => {
      s.write(c0c1);
      timers.push(setTimeout(sendCommands, handshakeWaitMs));
    });
    s.on('data', (d) => {
      got += d.length;
      if (!handshook && got >= S0S1S2) {
        handshook = true;
        sendCommands();
      } else if (sentCommands && !sentAll) {
        answers += d.toString('latin1');
        if (/NetStream\.Publish\.|_error/.test(answers)) sendMedia();
      }
    });
    s.on('error', (e) => finish(e.code === 'ECONNREFUSED' ? 'connect-error' : sentAll && s.writableFinished ? 'closed' : 'refused'));
    s.on('close', () => {
      for (const t of timers) clearTimeout(t);
      finish(!handshook ? 'no-handshake' : s.writableFinished ? 'closed' : 'refused');
      resolve(outcome);
    });
  });
}
