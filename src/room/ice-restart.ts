// ICE restart on a live WHIP/WHEP session (RFC 9725 §4.3.2): the client PATCHes a trickle-ice-sdpfrag with a new
// ufrag/pwd (after a network change, say); the session keeps its DTLS, SRTP and tracks, and only the ICE agent
// starts over. werift restarts ICE when a new offer changes the remote credentials, so the fragment is applied as
// such an offer (the session's own with the new credentials and candidates), and the reply is a fragment with our
// new credentials and candidates.

import type { RTCPeerConnection } from 'werift';
import { gatheringComplete } from './peer.js';
import { mediaSections } from './sdp-offer.js';
import { dtlsTransportOf, iceTransportOf, type IceTransport } from '../werift-internals.js';

export interface IceCredentials {
  ufrag: string;
  pwd: string;
}

/** Restarts ICE with the client's new credentials and candidates; returns our answer as an sdpfrag. */
export async function restartIce(pc: RTCPeerConnection, fragment: string, remote: IceCredentials): Promise<string> {
  const previous = pc.remoteDescription?.sdp;
  if (!previous) throw new Error('the session has no offer to restart');
  const offer = previous
    .replace(/^a=ice-ufrag:.*$/gm, `a=ice-ufrag:${remote.ufrag}`)
    .replace(/^a=ice-pwd:.*$/gm, `a=ice-pwd:${remote.pwd}`)
    .replace(/^a=(candidate:.*|end-of-candidates)\r?\n/gm, '');
  await pc.setRemoteDescription({ type: 'offer', sdp: offer });
  await pc.setLocalDescription(await pc.createAnswer());
  await gatheringComplete(pc);
  await addCandidates(pc, fragment);
  startAgents(pc);
  return answerFragment(pc.localDescription!.sdp);
}

/**
 * werift's own connect step returns early while DTLS is up, so after a restart its ICE agent would answer checks
 * but never run its own or its consent freshness, and a sender stays mute. Started here, it completes once the
 * client (which gets our fragment in the PATCH reply) checks the new pairs.
 */
function startAgents(pc: RTCPeerConnection): void {
  const agents = new Set<IceTransport>();
  for (const t of pc.getTransceivers()) {
    const ice = iceTransportOf(dtlsTransportOf(t));
    if (ice.state !== 'connected' && ice.state !== 'closed') agents.add(ice);
  }
  for (const ice of agents) void ice.start().catch(() => {});
}

/** Adds each `a=candidate:` line of a fragment for the media section (a=mid) it follows. */
export async function addCandidates(pc: RTCPeerConnection, fragment: string): Promise<void> {
  let mid: string | undefined;
  for (const line of fragment.split(/\r?\n/)) {
    const m = /^a=mid:(\S+)/.exec(line);
    if (m) mid = m[1];
    const c = /^a=(candidate:.*)$/.exec(line);
    if (c) await pc.addIceCandidate({ candidate: c[1], sdpMid: mid ?? '0' }).catch(() => {});
  }
}

/** Our credentials once, then each media section's mid and candidates (RFC 8840's sdpfrag). */
function answerFragment(answer: string): string {
  const ufrag = /^a=ice-ufrag:(\S+)/m.exec(answer)?.[1] ?? '';
  const pwd = /^a=ice-pwd:(\S+)/m.exec(answer)?.[1] ?? '';
  const lines = [`a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`];
  for (const section of mediaSections(answer)) {
    const mid = /^a=mid:(\S+)/m.exec(section)?.[1];
    const candidates = section.match(/^a=candidate:.*$/gm) ?? [];
    if (!mid || candidates.length === 0) continue;
    lines.push(section.split(/\r?\n/)[0], `a=mid:${mid}`, ...candidates, 'a=end-of-candidates');
  }
  return lines.join('\r\n') + '\r\n';
}
