// Ending a WebRTC session so that the other side notices at once. werift's close() only stops its timers and
// closes the UDP socket ("todo impl send alert" in its DTLS transport), so a browser learns of it from ICE consent
// failing seconds later and a player keeps showing a frozen picture meanwhile. Before closing we send, on each DTLS
// transport: an RTCP BYE for our SSRCs (RFC 3550 §6.6: the source is leaving) and a DTLS close_notify alert
// (RFC 6347 §4.1 / RFC 5246 §7.2.1), after which Chromium marks the transport closed.
//
// This reaches into werift's DTLS socket (its cipher, record numbering and transport) through
// src/werift-internals.ts, whose start-up check guarantees those shapes.

import type { RTCPeerConnection } from 'werift';
import type { Logger } from '../log.js';
import { dtlsSocketOf, dtlsTransportOf, type DtlsSocket, type DtlsTransport } from '../werift-internals.js';

const CONTENT_TYPE_ALERT = 21;
const ALERT_WARNING = 1;
const ALERT_CLOSE_NOTIFY = 0;
const RTCP_RR = 201;
const RTCP_BYE = 203;
/**
 * werift's send() returns before the datagram leaves: Node's dgram resolves the address on a later tick and drops
 * the packet if the socket is closed by then. Closing waits this long so the goodbye packets reach the kernel.
 */
const SEND_WAIT_MS = 20;

let sendWarned = false;

/** An RTCP compound of an empty receiver report (a compound must start with SR or RR) and a BYE for `ssrcs`. */
export function byeCompound(ssrcs: number[]): Buffer {
  const list = ssrcs.slice(0, 31);
  const rr = Buffer.alloc(8);
  rr.writeUInt8(0x80, 0);
  rr.writeUInt8(RTCP_RR, 1);
  rr.writeUInt16BE(1, 2);
  rr.writeUInt32BE(list[0] >>> 0, 4);
  const bye = Buffer.alloc(4 + 4 * list.length);
  bye.writeUInt8(0x80 | list.length, 0);
  bye.writeUInt8(RTCP_BYE, 1);
  bye.writeUInt16BE(list.length, 2);
  list.forEach((s, i) => bye.writeUInt32BE(s >>> 0, 4 + 4 * i));
  return Buffer.concat([rr, bye]);
}

/** The encrypted close_notify record for a connected DTLS socket, or null when it has no keys (never connected). */
function closeNotifyRecord(socket: DtlsSocket): Buffer | null {
  const suite = socket.cipher.cipher;
  const ctx = socket.dtls;
  if (!suite) return null;
  const sequenceNumber = ++ctx.recordSequenceNumber;
  const version = (ctx.version.major << 8) | ctx.version.minor;
  const body = suite.encrypt(socket.sessionType, Buffer.from([ALERT_WARNING, ALERT_CLOSE_NOTIFY]), {
    type: CONTENT_TYPE_ALERT,
    version,
    epoch: ctx.epoch,
    sequenceNumber,
  });
  const header = Buffer.alloc(13);
  header.writeUInt8(CONTENT_TYPE_ALERT, 0);
  header.writeUInt8(ctx.version.major, 1);
  header.writeUInt8(ctx.version.minor, 2);
  header.writeUInt16BE(ctx.epoch, 3);
  header.writeUIntBE(sequenceNumber, 5, 6);
  header.writeUInt16BE(body.length, 11);
  return Buffer.concat([header, body]);
}

/**
 * Sends BYE and close_notify on every connected DTLS transport of `pc`, then closes it. `sendRtcp`, when given,
 * carries the BYE first (a native SRTCP sender whose packet index werift does not know: SRTCP from werift's own
 * context would look like a replay); it answers -1 when it cannot, and werift's sender is used.
 */
export async function closeWithGoodbye(
  pc: RTCPeerConnection,
  log: Logger,
  sendRtcp?: (packets: Buffer[]) => number,
): Promise<void> {
  const sends: Promise<unknown>[] = [];
  try {
    const byTransport = new Map<DtlsTransport, number[]>();
    for (const t of pc.getTransceivers()) {
      const dtls = dtlsTransportOf(t);
      if (dtls.state !== 'connected') continue; // never connected: the peer has nothing to be told
      const ssrc = t.direction === 'recvonly' ? t.receiver.rtcpSsrc : t.sender.ssrc;
      const list = byTransport.get(dtls) ?? [];
      list.push(ssrc);
      byTransport.set(dtls, list);
    }
    for (const [dtls, ssrcs] of byTransport) {
      if (ssrcs.length) {
        const bye = byeCompound(ssrcs);
        if (!sendRtcp || sendRtcp([bye]) < 0) sends.push(dtls.sendRtcp([{ serialize: () => bye }]));
      }
      const socket = dtlsSocketOf(dtls);
      const record = socket ? closeNotifyRecord(socket) : null;
      if (record) sends.push(Promise.resolve(socket!.transport.send(record)));
    }
  } catch (err) {
    // e.g. the socket closed under us: the session still closes, only without its goodbye
    if (!sendWarned) {
      sendWarned = true;
      log.warn({ err: (err as Error).message }, 'could not send DTLS close_notify: sessions close without it');
    }
  }
  if (sends.length) {
    await Promise.allSettled(sends);
    await new Promise((r) => setTimeout(r, SEND_WAIT_MS));
  }
  await pc.close().catch(() => {});
}
