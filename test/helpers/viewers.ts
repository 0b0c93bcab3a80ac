// WHEP viewers for tests, as child processes: the werift viewer that counts RTP without decoding
// (scripts/bench/lib/whep-viewer.mjs) and the aiortc viewer that decodes (test/helpers/aiortc_whep_viewer.py).
// Both must run where only loopback exists (the tests run in a private network namespace).

import { spawn, type ChildProcess } from 'node:child_process';
import { repoPath } from '../../src/paths.js';
import { officialUserSig, TEST_APP } from './gateway.js';

/** Debian's python3 (python3-aiortc is a Debian package; a pyenv python3 on PATH would not have it). */
const DEBIAN_PYTHON = '/usr/bin/python3';

export interface WhepTarget {
  url: string;
  token: string;
}

/** WHEP URL of `room` for viewer `sessionId`, with a fresh official UserSig of that viewer as bearer. */
export function whepTarget(httpBase: string, room: string, sessionId: string, app = TEST_APP): WhepTarget {
  return {
    url: `${httpBase}/v2/sub/${app.sdkAppId}/${room}?SessionID=${encodeURIComponent(sessionId)}`,
    token: officialUserSig(sessionId, 3600, app),
  };
}

/** One stats line of the werift viewer (times are epoch ms; `*Ms` are from the POST). */
export interface WeriftViewerLine {
  viewer: number;
  /** Seconds since the viewer process started. */
  t: number;
  /** Present on the per-second lines: the interval, and frames / audio packets per second over it. */
  dt?: number;
  fps?: number;
  aps?: number;
  /** The last line of each viewer, after its DELETE. */
  final?: boolean;
  resource: string | null;
  state: string;
  recvBufferBytes: number;
  postedAt: number;
  answeredAt: number;
  connectedAt: number;
  firstRtpAt: number;
  firstKeyframeAt: number;
  firstAudioAt: number;
  videoPackets: number;
  videoBytes: number;
  /** Complete access units: marker-bit boundaries with no sequence gap inside. */
  frames: number;
  keyframes: number;
  incompleteFrames: number;
  /** Holes in the video sequence numbers on arrival, and the packets they spanned. */
  seqGaps: number;
  lostPackets: number;
  /** Holes filled later (werift NACKs, the gateway resends). */
  recoveredPackets: number;
  latePackets: number;
  audioPackets: number;
  audioSeqGaps: number;
  audioLostPackets: number;
  answerMs: number | null;
  connectMs: number | null;
  firstRtpMs: number | null;
  firstKeyframeMs: number | null;
}

export interface WeriftViewerRun {
  child: ChildProcess;
  /** Every stats line so far, in order. */
  lines: WeriftViewerLine[];
  /** The newest line of viewer `i` (default 0). */
  latest(i?: number): WeriftViewerLine | undefined;
  /** The per-second lines of viewer `i` whose interval ended within [fromMs, toMs] (Date.now() times). */
  linesBetween(fromMs: number, toMs: number, i?: number): WeriftViewerLine[];
  /** Resolves with the first line (of any viewer in the process) that satisfies `pred`. */
  waitLine(pred: (l: WeriftViewerLine) => boolean, timeoutMs?: number): Promise<WeriftViewerLine>;
  stderr(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  pause(): void;
  resume(): void;
  /** SIGTERM: the viewers send DELETE, print their final lines and exit. */
  stop(): void;
  kill(): void;
}

export interface WeriftViewerOptions extends WhepTarget {
  /** Exit (after DELETE) after this many seconds; 0: run until stopped. */
  seconds?: number;
  /** Viewers in the one process. */
  count?: number;
  /** SO_RCVBUF for the viewer sockets; 0 keeps the OS default. Default: the script's (1 MiB). */
  recvBuffer?: number;
  /** Drop the first arrival of each video packet whose sequence number is a multiple of this (NACK repair). */
  dropEvery?: number;
}

/** Starts `node scripts/bench/lib/whep-viewer.mjs`; it is SIGKILLed if still running after seconds + 30 s. */
export function weriftViewer(o: WeriftViewerOptions): WeriftViewerRun {
  const args = [repoPath('scripts/bench/lib/whep-viewer.mjs'), '--url', o.url, '--token', o.token];
  args.push('--seconds', String(o.seconds ?? 0), '--count', String(o.count ?? 1));
  if (o.recvBuffer !== undefined) args.push('--recv-buffer', String(o.recvBuffer));
  if (o.dropEvery) args.push('--drop-every', String(o.dropEvery));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: WeriftViewerLine[] = [];
  const arrived: number[] = [];
  const waiters = new Set<() => void>();
  let err = '';
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    partial += d;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const text = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (!text.trim()) continue;
      try {
        lines.push(JSON.parse(text) as WeriftViewerLine);
        arrived.push(Date.now());
      } catch {
        err += `(unparsable stdout) ${text}\n`;
      }
    }
    for (const w of [...waiters]) w();
  });
  child.stderr!.on('data', (d) => (err += d));
  const guard = setTimeout(() => child.kill('SIGKILL'), ((o.seconds || 600) + 30) * 1000);
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      resolve(code ?? signal ?? 'unknown');
      for (const w of [...waiters]) w();
    });
  });
  const signal = (s: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(s);
  };
  return {
    child,
    lines,
    latest(i = 0) {
      for (let k = lines.length - 1; k >= 0; k--) if (lines[k].viewer === i) return lines[k];
      return undefined;
    },
    linesBetween(fromMs, toMs, i = 0) {
      return lines.filter((l, k) => l.viewer === i && l.fps !== undefined && arrived[k] >= fromMs && arrived[k] <= toMs);
    },
    waitLine(pred, timeoutMs = 10000) {
      return new Promise((resolve, reject) => {
        let seen = 0;
        const check = () => {
          for (; seen < lines.length; seen++) {
            if (pred(lines[seen])) return done(() => resolve(lines[seen]));
          }
          if (child.exitCode !== null || child.signalCode !== null) {
            done(() => reject(new Error(`the werift viewer exited (${child.exitCode ?? child.signalCode}): ${err.trim()}`)));
          }
        };
        const timer = setTimeout(() => done(() => reject(new Error(`no matching werift viewer line in ${timeoutMs} ms: ${err.trim()}`))), timeoutMs);
        const done = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    },
    stderr: () => err,
    exited,
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    stop: () => signal('SIGTERM'),
    kill: () => {
      signal('SIGCONT'); // a stopped process takes SIGKILL too, but let it go cleanly in any case
      signal('SIGKILL');
    },
  };
}

/** What the aiortc viewer prints after --seconds. */
export interface AiortcViewerResult {
  /** Decoded video frames. */
  frames: number;
  width: number;
  height: number;
  audio_frames: number;
  /** RMS of the decoded audio samples, scaled to [-1, 1]. */
  audio_rms: number;
  /** POST → first decoded video frame; null when none came. */
  first_frame_ms: number | null;
  /** From the first decoded frame to the end of the run. */
  receiving_s: number;
  connection_state: string;
}

export interface AiortcViewerRun {
  /** Exit code (0: a result was printed and the DELETE succeeded; 2: an HTTP error) or signal name. */
  code: number | string;
  result: AiortcViewerResult | null;
  /** Everything the script printed on stderr (and stdout lines that were not the result). */
  output: string;
}

/** Runs test/helpers/aiortc_whep_viewer.py for `seconds` and resolves with its JSON result. */
export function aiortcViewer(o: WhepTarget & { seconds?: number }): Promise<AiortcViewerRun> {
  const seconds = o.seconds ?? 8;
  const args = [repoPath('test/helpers/aiortc_whep_viewer.py'), '--url', o.url, '--token', o.token, '--seconds', String(seconds)];
  const child = spawn(DEBIAN_PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const guard = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      let result: AiortcViewerResult | null = null;
      const rest: string[] = [];
      for (const line of out.split('\n')) {
        if (!line.trim()) continue;
        try {
          const v = JSON.parse(line) as AiortcViewerResult;
          if (typeof v === 'object' && v && 'frames' in v) {
            result = v;
            continue;
          }
        } catch {}
        rest.push(line);
      }
      resolve({ code: code ?? signal ?? 'unknown', result, output: [...rest, err].join('\n').trim() });
    });
  });
}
