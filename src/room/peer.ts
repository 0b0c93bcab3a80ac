// werift PeerConnections for WHIP/WHEP resources: H.264 (packetization-mode 1) and Opus only, ICE on the
// configured addresses and UDP ports, and an answer that already holds every server candidate (OBS sends none).

import { RTCPeerConnection, useH264, useOPUS, type RTCRtpTransceiver } from 'werift';
import { acceptBundleOnly, onlyH264Mode1 } from './sdp-offer.js';
import { dtlsTransportOf, iceConnectionOf, setDtlsRole, whenState } from '../werift-internals.js';

/** Where ICE listens: what answering an offer needs. */
export interface IceOptions {
  /** Local addresses to gather host candidates on (loopback is only gathered when listed). */
  hostAddresses: string[];
  /** Addresses written into candidates instead of the local one (a public IP in front of NAT). Empty: none. */
  announcedAddresses: string[];
  udpPortMin: number;
  udpPortMax: number;
}

export interface WebRtcOptions extends IceOptions {
  /** From the 201 to ICE + DTLS connected; a session that takes longer is closed and its port freed. */
  connectTimeoutMs: number;
  /** Concurrent WebRTC sessions per SDKAppID and per userid in an app. */
  maxSessionsPerApp: number;
  maxSessionsPerUser: number;
}

/** Every port of `webrtc.udpPortMin`–`udpPortMax` is taken: werift would answer with no candidate at all. */
export class NoUdpPortError extends Error {
  constructor(min: number, max: number) {
    super(`no free UDP port for WebRTC: all ${max - min + 1} ports of ${min}–${max} are in use`);
  }
}

export interface AnsweredPeer {
  pc: RTCPeerConnection;
  answer: string;
  /** The transceivers that carry media (those of a kind the session may not carry are answered inactive). */
  transceivers: RTCRtpTransceiver[];
}

/** Which kinds of media a session carries; the user's credential decides (src/auth/privileges.ts trackRefusals). */
export type CarriedKinds = Readonly<Record<'video' | 'audio', boolean>>;

const BOTH_KINDS: CarriedKinds = { video: true, audio: true };

/**
 * Answers `offer` with the given direction on every audio/video section of a kind in `kinds`, and `inactive` on the
 * others (the peer then sends or expects nothing there). The answer is passive in DTLS
 * (`a=setup:passive`): the browser then starts the handshake at once, whereas werift as the DTLS client waits
 * 100 ms first — the largest fixed cost of a viewer's join time.
 */
export async function answerOffer(
  offer: string,
  direction: 'sendonly' | 'recvonly',
  opts: IceOptions,
  kinds: CarriedKinds = BOTH_KINDS,
): Promise<AnsweredPeer> {
  // werift gathers on every interface unless the listed ones are among them, and it never lists loopback itself:
  // with loopback-only host addresses, IPv4 interface discovery is turned off so only the listed ones are used.
  const loopbackOnly = opts.hostAddresses.every((a) => a.startsWith('127.'));
  const pc = new RTCPeerConnection({
    codecs: { video: [useH264()], audio: [useOPUS()] },
    iceServers: [],
    iceAdditionalHostAddresses: opts.hostAddresses,
    iceInterfaceAddresses: opts.hostAddresses.length === 1 ? { udp4: opts.hostAddresses[0] } : undefined,
    iceUseIpv4: !loopbackOnly,
    iceUseIpv6: false,
    iceUseTcp: false,
    icePortRange: [opts.udpPortMin, opts.udpPortMax],
  });
  try {
    // werift answers with the first H.264 the offer lists, even packetization-mode 0; we speak mode 1 only (the
    // offer check guarantees one is there), so the others are taken out first. Bundle-only sections: see there.
    await pc.setRemoteDescription({ type: 'offer', sdp: onlyH264Mode1(acceptBundleOnly(offer)) });
    const transceivers = pc.getTransceivers();
    const carries = (t: RTCRtpTransceiver) => kinds[t.kind as 'video' | 'audio'] !== false;
    for (const t of transceivers) {
      t.setDirection(carries(t) ? direction : 'inactive');
      setDtlsRole(t, 'server');
      withoutStun(t);
    }
    await pc.setLocalDescription(await pc.createAnswer());
    await gatheringComplete(pc);
    let answer = pc.localDescription!.sdp;
    // werift binds the first free port of the range and, when none is free, answers with no candidate instead of
    // failing: the peer could never connect, so that is a refusal, not an answer.
    if (!/^a=candidate:/m.test(answer)) throw new NoUdpPortError(opts.udpPortMin, opts.udpPortMax);
    if (opts.announcedAddresses.length) answer = announce(answer, opts.announcedAddresses);
    return { pc, answer, transceivers: transceivers.filter(carries) };
  } catch (err) {
    await pc.close().catch(() => {});
    throw err;
  }
}

/**
 * werift asks stun.l.google.com for a server-reflexive candidate even with `iceServers: []`, and gathering then
 * waits up to 5 s where that UDP is dropped. A server with known host addresses needs no STUN; announced addresses
 * cover NAT.
 */
function withoutStun(t: RTCRtpTransceiver): void {
  iceConnectionOf(dtlsTransportOf(t)).stunServer = undefined;
}

export function gatheringComplete(pc: RTCPeerConnection): Promise<void> {
  return whenState(pc.iceGatheringState, pc.iceGatheringStateChange, 'complete');
}

/** Adds, for every host candidate, the same candidate on each announced address (NAT 1:1 mapping). */
function announce(sdp: string, addresses: string[]): string {
  return sdp.replace(/^a=candidate:(\S+) (\d+) (\w+) (\d+) (\S+) (\d+) typ host(.*)$/gm, (line, foundation, comp, proto, prio, _ip, port, rest) => {
    const extra = addresses.map(
      (a, i) => `a=candidate:${foundation}${i + 1} ${comp} ${proto} ${Number(prio) - 1 - i} ${a} ${port} typ host${rest}`,
    );
    return [line, ...extra].join('\r\n');
  });
}
