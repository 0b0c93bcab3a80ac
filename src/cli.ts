// The `roomgate` command: serve the gateway, or make the values a streamer or integrator pastes elsewhere
// (UserSig, PrivateMapKey, room JWT) without writing code.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfig, ConfigError } from './config/load.js';
import type { Config } from './config/schema.js';
import { createLogger } from './log.js';
import { startGateway, type Gateway } from './main.js';
import { exclusiveUdpBinds } from './node-internals.js';
import { parseWorkers, superviseWorkers, workerConfig, workersRefusal, workerSlot } from './workers.js';
import { WeriftShapeError } from './werift-internals.js';
import { EngineUnavailableError } from './room/engine.js';
import { NodeMediaServerShapeError } from './ingest/rtmp/guarded-rtmp.js';
import { StoreUnavailableError } from './store/sqlite.js';
import { StoreUnreachableError } from './store/redis-connection.js';
import { newcomerGuide } from './guide.js';
import { genUserSig } from './auth/usersig.js';
import { genPrivateMapKey, PRIV } from './auth/privatemapkey.js';
import { signRoomToken } from './auth/jwt.js';

type Options = NonNullable<ParseArgsConfig['options']>;

interface Command {
  summary: string;
  usage: string;
  options: Options;
  run(values: Record<string, string | boolean | undefined>): Promise<number>;
}

const keyOptions: Options = {
  config: { type: 'string' },
  sdkappid: { type: 'string' },
  key: { type: 'string' },
  userid: { type: 'string' },
  expire: { type: 'string', default: '86400' },
  help: { type: 'boolean', short: 'h' },
};

const keyHelp = `  --sdkappid N     the app (default: the first app in the config)
  --key SECRET     the app's secret key (default: taken from the config for that sdkappid)
  --userid ID      the user id (required)
  --expire SEC     validity in seconds (default 86400)
  --config FILE    config file to read apps from (default config/default.json)`;

const PRIV_NAMES: Record<string, number> = {
  create: PRIV.CREATE,
  enter: PRIV.ENTER,
  'send-audio': PRIV.SEND_AUDIO,
  'recv-audio': PRIV.RECV_AUDIO,
  'send-video': PRIV.SEND_VIDEO,
  'recv-video': PRIV.RECV_VIDEO,
  'send-sub': PRIV.SEND_SUB,
  'recv-sub': PRIV.RECV_SUB,
  all: 255,
  publish: PRIV.ENTER | PRIV.SEND_AUDIO | PRIV.SEND_VIDEO,
  play: PRIV.ENTER | PRIV.RECV_AUDIO | PRIV.RECV_VIDEO,
};

const commands: Record<string, Command> = {
  serve: {
    summary: 'start the gateway in the foreground',
    usage: `roomgate serve [--config FILE] [--workers N|auto]

  --config FILE    JSON merged over config/default.json; ROOMGATE_<PATH> env vars override single keys
                   (e.g. ROOMGATE_HTTP_PORT=8081, ROOMGATE_APPS_0_SECRETKEY=…)
  --workers N      run N gateway nodes on this machine sharing the RTMP and HTTP ports, each with its own
                   plane thread and slice of the WebRTC UDP range; auto = one per core. Needs store.kind
                   "redis" (the workers share their state there).`,
    options: { config: { type: 'string' }, workers: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    run: async (v) => serve(v.config as string | undefined, v.workers as string | undefined),
  },
  usersig: {
    summary: 'print a UserSig (RTMP stream key usersig=, WHIP/WHEP bearer token)',
    usage: `roomgate usersig --userid ID [--sdkappid N] [--key SECRET] [--expire SEC]\n\n${keyHelp}`,
    options: keyOptions,
    run: async (v) => {
      const { sdkAppId, secretKey } = appKey(v);
      const userId = required(v, 'userid');
      console.log(genUserSig({ sdkAppId, secretKey, userId, expireSeconds: int(v, 'expire') }));
      return 0;
    },
  },
  privatemapkey: {
    summary: 'print a PrivateMapKey (room-scoped privileges)',
    usage: `roomgate privatemapkey --userid ID --room ROOM [--priv LIST] [--sdkappid N] [--key SECRET] [--expire SEC]

  --room ROOM      string room id (or a number with --numeric-room)
  --numeric-room   treat --room as a numeric room id
  --priv LIST      comma-separated: ${Object.keys(PRIV_NAMES).join(', ')}, or a number (default: publish)
${keyHelp}`,
    options: { ...keyOptions, room: { type: 'string' }, priv: { type: 'string', default: 'publish' }, 'numeric-room': { type: 'boolean' } },
    run: async (v) => {
      const { sdkAppId, secretKey } = appKey(v);
      const roomText = required(v, 'room');
      const room = v['numeric-room'] ? Number(roomText) : roomText;
      const privileges = parsePriv(String(v.priv));
      const userId = required(v, 'userid');
      console.log(genPrivateMapKey({ sdkAppId, secretKey, userId, expireSeconds: int(v, 'expire'), room, privileges }));
      return 0;
    },
  },
  token: {
    summary: 'print a room-scoped JWT bearer (HS256 with the app secret key)',
    usage: `roomgate token --userid ID [--room ROOM|*] [--priv LIST] [--sdkappid N] [--key SECRET] [--expire SEC]

  --room ROOM      the room the token is good for (default * = any room)
  --priv LIST      as for privatemapkey (default: publish)
${keyHelp}`,
    options: { ...keyOptions, room: { type: 'string', default: '*' }, priv: { type: 'string', default: 'publish' } },
    run: async (v) => {
      const { sdkAppId, secretKey } = appKey(v);
      const token = signRoomToken({
        sdkAppId,
        secretKey,
        userId: required(v, 'userid'),
        room: String(v.room),
        privileges: parsePriv(String(v.priv)),
        expireSeconds: int(v, 'expire'),
      });
      console.log(token);
      return 0;
    },
  },
};

class UsageError extends Error {}

function required(v: Record<string, unknown>, name: string): string {
  const s = v[name];
  if (typeof s !== 'string' || s === '') throw new UsageError(`--${name} is required`);
  return s;
}

function int(v: Record<string, unknown>, name: string): number {
  const n = Number(v[name]);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive whole number`);
  return n;
}

function parsePriv(text: string): number {
  if (/^\d+$/.test(text)) return Number(text) & 0xff;
  let bits = 0;
  for (const name of text.split(',').map((s) => s.trim())) {
    const b = PRIV_NAMES[name];
    if (b === undefined) throw new UsageError(`unknown privilege '${name}' (known: ${Object.keys(PRIV_NAMES).join(', ')})`);
    bits |= b;
  }
  return bits;
}

/** The app's sdkappid and key, from flags or from the config. */
function appKey(v: Record<string, unknown>): { sdkAppId: number; secretKey: string } {
  const given = typeof v.sdkappid === 'string' ? Number(v.sdkappid) : undefined;
  if (given !== undefined && !Number.isInteger(given)) throw new UsageError('--sdkappid must be a number');
  if (typeof v.key === 'string') {
    if (given === undefined) throw new UsageError('--key needs --sdkappid');
    return { sdkAppId: given, secretKey: v.key };
  }
  const config = loadConfig({ file: v.config as string | undefined });
  const app = given === undefined ? config.apps[0] : config.apps.find((a) => a.sdkAppId === given);
  if (!app) throw new UsageError(given === undefined ? 'no app in the config: pass --sdkappid and --key' : `sdkappid ${given} is not in the config: pass --key`);
  return { sdkAppId: app.sdkAppId, secretKey: app.secretKey };
}

async function serve(configFile: string | undefined, workers: string | undefined): Promise<number> {
  let config: Config;
  try {
    config = loadConfig({ file: configFile });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`roomgate: bad config: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const log = createLogger(config.log.level);
  const slot = workerSlot();
  if (slot) {
    config = workerConfig(config, slot);
    exclusiveUdpBinds(); // werift's ICE sockets belong to this worker, not to the primary's shared handles
  } else if (workers !== undefined) {
    let n: number;
    try {
      n = parseWorkers(workers);
    } catch (err) {
      console.error(`roomgate serve: ${(err as Error).message}`);
      return 1;
    }
    const refusal = workersRefusal(n, config);
    if (refusal) {
      console.error(`roomgate serve: ${refusal}`);
      return 2;
    }
    if (n > 1) return superviseWorkers(n, log);
  }
  let gateway: Gateway;
  try {
    gateway = await startGateway(config, log);
  } catch (err) {
    // each is one line that says what to do (another werift or node-media-server version, the addon not built, a
    // store file that cannot be used)
    if (err instanceof WeriftShapeError || err instanceof NodeMediaServerShapeError || err instanceof EngineUnavailableError || err instanceof StoreUnavailableError) {
      console.error(err.message);
      return 1;
    }
    if (err instanceof StoreUnreachableError) {
      console.error(`roomgate: ${err.message}; start that Redis or set store.redisUrl to one that runs`);
      return 1;
    }
    throw err;
  }
  if (!configFile && (slot?.index ?? 0) === 0) console.log(newcomerGuide(config, gateway.rtmp.port, gateway.http.port));
  await new Promise<void>((resolve) => {
    // SIGTERM (what a supervisor or an orchestrator sends) drains: sessions get drain.timeoutMs to end on their
    // own. SIGINT (Ctrl-C on a terminal) closes at once. A second signal of either kind means "now".
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      process.once(signal, () => process.exit(1));
      void (signal === 'SIGTERM' ? gateway.drain() : gateway.close()).then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // POST /api/drain ends in a close as well
    void gateway.closed.then(resolve);
  });
  log.info('stopped');
  return 0;
}

function mainHelp(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`);
  return `usage: roomgate <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nroomgate <command> --help shows a command's options.`;
}

export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(mainHelp());
    return name ? 0 : 1;
  }
  const cmd = commands[name];
  if (!cmd) {
    console.error(`roomgate: unknown command '${name}'\n\n${mainHelp()}`);
    return 1;
  }
  try {
    const { values } = parseArgs({ args: rest, options: cmd.options, strict: true, allowPositionals: false });
    if (values.help) {
      console.log(`usage: ${cmd.usage}`);
      return 0;
    }
    return await cmd.run(values as Record<string, string | boolean | undefined>);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`roomgate ${name}: ${(err as Error).message}\n\nusage: ${cmd.usage}`);
      return 1;
    }
    if (err instanceof ConfigError) {
      console.error(`roomgate: bad config: ${err.message}`);
      return 2;
    }
    throw err;
  }
}
