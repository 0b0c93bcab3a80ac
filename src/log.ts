// One logger for the process: JSON lines (pino), pretty-printed only when a person watches a terminal.

import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, stream: NodeJS.WritableStream = process.stdout): Logger {
  const pretty = stream === process.stdout && process.stdout.isTTY === true;
  if (pretty) {
    return pino({ level, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  return pino({ level }, stream as pino.DestinationStream);
}
