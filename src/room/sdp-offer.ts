// What a WHIP/WHEP offer asks for, read before any ICE or DTLS work: which media sections it has and which codecs
// each offers, so an offer we cannot serve is refused with a reason (406) instead of an answer with inactive media.

export interface OfferedCodec {
  payloadType: number;
  name: string;
  clockRate: number;
  fmtp: string;
}

export interface OfferedMedia {
  kind: string;
  direction: string;
  codecs: OfferedCodec[];
}

export class SdpError extends Error {
  override name = 'SdpError';
}

export function parseOffer(sdp: string): OfferedMedia[] {
  if (!/^v=0\r?\n/.test(sdp)) throw new SdpError('the body is not an SDP offer (it must start with v=0)');
  const sections = mediaSections(sdp);
  if (sections.length === 0) throw new SdpError('the SDP offer has no media section (m=)');
  return sections.map((section) => {
    const lines = section.split(/\r?\n/);
    const m = /^m=(\w+) \d+ [\w/]+((?: \d+)*)/.exec(lines[0]);
    if (!m) throw new SdpError(`malformed media line '${lines[0].slice(0, 60)}'`);
    const codecs = new Map<number, OfferedCodec>();
    for (const pt of m[2].trim().split(/\s+/).filter(Boolean)) {
      codecs.set(Number(pt), { payloadType: Number(pt), name: '', clockRate: 0, fmtp: '' });
    }
    let direction = 'sendrecv';
    for (const line of lines) {
      const rtpmap = /^a=rtpmap:(\d+) ([\w-]+)\/(\d+)/.exec(line);
      if (rtpmap) {
        const c = codecs.get(Number(rtpmap[1]));
        if (c) Object.assign(c, { name: rtpmap[2], clockRate: Number(rtpmap[3]) });
      }
      const fmtp = /^a=fmtp:(\d+) (.*)$/.exec(line);
      if (fmtp) {
        const c = codecs.get(Number(fmtp[1]));
        if (c) c.fmtp = fmtp[2];
      }
      const dir = /^a=(sendrecv|sendonly|recvonly|inactive)$/.exec(line);
      if (dir) direction = dir[1];
    }
    return { kind: m[1], direction, codecs: [...codecs.values()] };
  });
}

export function isH264Mode1(c: OfferedCodec): boolean {
  return c.name.toUpperCase() === 'H264' && /(^|;)\s*packetization-mode=1/.test(c.fmtp);
}

export function isOpus(c: OfferedCodec): boolean {
  return c.name.toLowerCase() === 'opus';
}

/** Names of the video codecs offered, for refusals ("offered VP8, AV1"). */
export function videoCodecNames(media: OfferedMedia[]): string {
  const names = new Set<string>();
  for (const m of media) {
    if (m.kind !== 'video') continue;
    for (const c of m.codecs) if (c.name && !/^(rtx|red|ulpfec|flexfec-03)$/i.test(c.name)) names.add(c.name.toUpperCase());
  }
  return names.size ? [...names].join(', ') : 'none';
}

/**
 * Whether we can serve this offer: every video section must offer H.264 packetization-mode 1 and every audio
 * section Opus, and there must be at least one of them. `hint` ends the 406 reason ("select H.264 in the encoder").
 */
export function checkOffer(sdp: string, hint: string): { status: 400 | 406; reason: string } | null {
  let media: OfferedMedia[];
  try {
    media = parseOffer(sdp);
  } catch (e) {
    return { status: 400, reason: `malformed SDP offer: ${(e as Error).message}` };
  }
  const video = media.filter((m) => m.kind === 'video');
  const audio = media.filter((m) => m.kind === 'audio');
  if (video.some((m) => !m.codecs.some(isH264Mode1))) {
    return { status: 406, reason: `offer has no H.264 (packetization-mode 1): offered ${videoCodecNames(media)} — ${hint}` };
  }
  if (audio.some((m) => !m.codecs.some(isOpus))) return { status: 406, reason: 'offer has no Opus audio: use Opus' };
  if (video.length === 0 && audio.length === 0) return { status: 406, reason: 'offer has neither audio nor video' };
  return null;
}

/**
 * The offer without H.264 payload types other than packetization-mode 1 (and their RTX). werift answers with the
 * first H.264 an offer lists, whatever its mode; after this the first is a mode-1 one.
 */
export function onlyH264Mode1(sdp: string): string {
  const eol = lineEnd(sdp);
  return mapMediaSections(sdp, (section) => {
    if (!section.startsWith('m=video')) return section;
    const lines = section.split(/\r?\n/);
    const drop = new Set<string>();
    const h264 = new Set<string>();
    for (const l of lines) {
      const r = /^a=rtpmap:(\d+) H264\//i.exec(l);
      if (r) h264.add(r[1]);
    }
    for (const pt of h264) {
      const fmtp = lines.find((l) => l.startsWith(`a=fmtp:${pt} `)) ?? '';
      if (!/packetization-mode=1/.test(fmtp)) drop.add(pt);
    }
    for (const l of lines) {
      const rtx = /^a=fmtp:(\d+) apt=(\d+)/.exec(l);
      if (rtx && drop.has(rtx[2])) drop.add(rtx[1]);
    }
    if (drop.size === 0) return section;
    return lines
      .filter((l) => !/^a=(rtpmap|fmtp|rtcp-fb):(\d+)/.test(l) || !drop.has(/^a=\w+(?:-\w+)?:(\d+)/.exec(l)![1]))
      .map((l) => (l.startsWith('m=video') ? l.split(' ').filter((f, i) => i < 3 || !drop.has(f)).join(' ') : l))
      .join(eol);
  });
}

/**
 * The offer with `bundle-only` sections given a port. A max-bundle offerer (GStreamer's webrtcbin, which
 * simple-whip-client uses) writes every section but the first as `m=audio 0 …` + `a=bundle-only` (RFC 8843 §7.2):
 * port 0 there means "only inside the BUNDLE group", but werift reads it as a rejected section and answers it
 * inactive, so that media never flows. Port 9 (the "discard" placeholder of trickle ICE) says what was meant.
 */
export function acceptBundleOnly(sdp: string): string {
  return mapMediaSections(sdp, (s) => (/^a=bundle-only\s*$/m.test(s) ? s.replace(/^(m=\w+) 0 /, '$1 9 ') : s));
}

/** The media sections of an SDP (each from its m= line), without the session part before them. */
export function mediaSections(sdp: string): string[] {
  return sdp.split(/\r?\n(?=m=)/).slice(1);
}

/** The SDP with each media section replaced by `f(section)`, in the SDP's own line ending. */
function mapMediaSections(sdp: string, f: (section: string) => string): string {
  const [head, ...sections] = sdp.split(/\r?\n(?=m=)/);
  return [head, ...sections.map(f)].join(lineEnd(sdp));
}

function lineEnd(sdp: string): string {
  return sdp.includes('\r\n') ? '\r\n' : '\n';
}
