// The start of a bench child process driven over child_process.fork's IPC channel (the e2e viewers, the feed-link
// reader): it waits for the harness's 'start' message, dies at its deadline or when the harness goes, and opens the
// UDP probe socket on which the harness measures the child's own floor (one-way loopback delivery into this event
// loop: each probe carries its send time on the monotonic clock).

import { createSocket } from 'node:dgram';
import { mono } from './mono-clock.mjs';

/** Resolves the 'start' message and the probe delays (ms, filled as probes arrive); the probe's port is sent. */
export async function startProbedChild() {
  const start = await new Promise((res) => process.once('message', res));
  if (start?.type !== 'start') process.exit(2);
  setTimeout(() => process.exit(3), start.deadlineMs).unref();
  process.on('disconnect', () => process.exit(0));

  const probe = [];
  const sock = createSocket('udp4');
  sock.on('message', (buf) => {
    if (buf.length >= 8) probe.push(mono() - buf.readDoubleLE(0));
  });
  await new Promise((res) => sock.bind(0, '127.0.0.1', res));
  process.send({ type: 'probe', port: sock.address().port });
  return { start, probe, sock };
}
