// ffmpeg/ffprobe children that can never outlive the gateway:
// - each runs in its own process group (detached), so a terminal's Ctrl-C reaches the gateway only, and a kill
//   takes the whole group;
// - when the gateway exits (normally, or from an uncaught exception) an 'exit' hook SIGKILLs every group left;
// - when the gateway is SIGKILLed no hook runs, so children start through util-linux `setpriv --pdeathsig KILL`
//   where it exists: the kernel kills them when their parent dies. (Without setpriv, ffmpeg still dies of EPIPE
//   on its next write to the closed stdout pipe, and -rw_timeout bounds a stalled read.)

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const live = new Set<ChildProcess>();
let exitHooked = false;
let setprivPath: string | null | undefined;

function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const p = join(dir, 'setpriv');
    try {
      accessSync(p, constants.X_OK);
      setprivPath = p;
      break;
    } catch {
      // not here
    }
  }
  return setprivPath;
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', () => {
    for (const c of live) killChild(c);
  });
}

/**
 * Spawns `cmd args` in its own process group with stdout/stderr piped; tracked until it exits. `stdin: 'pipe'` gives
 * it a stdin pipe (a relay's ffmpeg reads a tap's MPEG-TS there).
 */
export function spawnTracked(cmd: string, args: readonly string[], opts: { stdin?: 'pipe' | 'ignore' } = {}): ChildProcess {
  hookExit();
  const setpriv = findSetpriv();
  const [file, argv] = setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', cmd, ...args]] : [cmd, [...args]];
  const child = spawn(file, argv, { detached: true, stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'] });
  live.add(child);
  const forget = () => live.delete(child);
  child.once('exit', forget);
  child.once('error', forget);
  return child;
}

/** SIGKILLs the child's process group (falls back to the child alone). Safe to call twice or after exit. */
export function killChild(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Children still running (for tests and shutdown checks). */
export function liveChildren(): number {
  return live.size;
}
