// The only place that wires the parts together: config → store, rooms, auth → RTMP listener and HTTP server.

import { resolve } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/schema.js';
import type { Logger } from './log.js';
import type { AppEntry, AppTable } from './auth/authenticate.js';
import { openStore } from './store/open-store.js';
import type { Store } from './store/store.js';
import { keepHistory } from './store/history-retention.js';
import { HistoryFeed } from './events/history-feed.js';
import { roomEventsTo } from './events/room-events.js';
import { MediaSampler } from './room/media-sampler.js';
import { Rooms } from './room/rooms.js';
import { RtmpServer } from './ingest/rtmp/server.js';
import { MediaEngine } from './room/engine.js';
import { Door } from './room/door.js';
import { RoomMembers } from './room/members.js';
import { RoomControl } from './room/room-control.js';
import { createHttpServer } from './api/server.js';
import { Health, registerHealth } from './api/health.js';
import { registerRoomRoutes } from './api/rooms.js';
import { registerWhep } from './api/whep.js';
import { registerWhip } from './api/whip.js';
import { registerPlay } from './api/play.js';
import { registerTencentApi, tencentActions } from './api/tencent-api.js';
import { registerTaskRoutes } from './api/tasks.js';
import { registerRecordingFiles } from './api/recording-files.js';
import { Recordings } from './record/recordings.js';
import { Relays } from './relay/relays.js';
import { takeOverRelays, takeRelayFromDrain } from './relay/relay-failover.js';
import { CallbackDispatcher } from './events/callback-dispatcher.js';
import { PullTasks } from './ingest/pull/pull-tasks.js';
import { RefusalCounters } from './events/refusal-counters.js';
import { WebRtcSessions } from './api/webrtc-sessions.js';
import { checkWerift } from './werift-internals.js';
import { gatewayMetrics } from './metrics/gateway-metrics.js';
import { registerMetrics } from './api/metrics.js';
import { registerDrain } from './api/drain.js';
import { registerConsole } from './api/console.js';
import { consoleGuard } from './api/console-guard.js';
import { ConsoleSnapshot } from './api/console-snapshot.js';
import { sessionsEnded } from './room/sessions-ended.js';
import { checkNodeMediaServer } from './ingest/rtmp/guarded-rtmp.js';
import { checkRtmpClient } from './rtmp-client-internals.js';
import { RemotePublishers } from './cluster/remote-publishers.js';
import { registerInternalFeed } from './api/internal-feed.js';
import { Cluster } from './cluster/cluster.js';
import { registerNodeForward } from './api/node-forward.js';
import { registerClusterRoutes } from './api/cluster.js';
import type { TaskCall } from './api/stream-ingest-service.js';

export interface Gateway {
  rooms: Rooms;
  /** What was refused or cut off, by kind (also `GET /api/limits`). */
  counters: RefusalCounters;
  /** The media engine every publisher and viewer runs on (tests and benchmarks read its counters and timings). */
  engine: MediaEngine;
  rtmp: { host: string; port: number };
  /** RTMP connections open now (admitted, not yet closed): tests and benchmarks watch idle ones being shed. */
  rtmpConnections(): number;
  http: { host: string; port: number };
  /** Stops accepting, ends every session with `reason`, closes listeners. */
  close(reason?: string): Promise<void>;
  /**
   * SIGTERM or POST /api/drain: /healthz turns 503, new publishers are refused (told to reconnect), running sessions
   * get drain.timeoutMs to end on their own, then close(). Resolves once closed; idempotent.
   */
  drain(): Promise<void>;
  /** Resolves once the gateway has closed, by close() or at the end of a drain. */
  closed: Promise<void>;
}

/** What a publisher refused during a drain reads (RTMP onStatus, WHIP 503, API 3.0 ResourceUnavailable). */
export const DRAIN_REASON = 'this node is draining (going out of service): reconnect to publish on another node';

export function appTable(config: Config): AppTable {
  const byId = new Map<number, AppEntry>(config.apps.map((a) => [a.sdkAppId, a]));
  return { get: (id) => byId.get(id) };
}

/**
 * What a previous run left in a durable store (it was stopped or killed), before anything listens: its queued
 * callbacks go out first; the rooms count its sessions again; recordings and relays it was running end with their
 * callbacks (an S3 recording's files are uploaded once the node is ready); its pull tasks resume (701 Status 2, then
 * 0) or end (702); then every session that nothing took up leaves with 104 Reason 2, and its room with 102.
 */
async function recoverAfterRestart(o: {
  store: Store;
  callbacks: CallbackDispatcher;
  history: HistoryFeed;
  rooms: Rooms;
  pullTasks: PullTasks;
  recordings: Recordings;
  relays: Relays;
  /** Many nodes: only this node's sessions are its to restore (a stable node.id); others' expire with their lease. */
  node?: string;
  cluster?: Cluster;
}): Promise<void> {
  await o.callbacks.resume();
  // many nodes: a survivor that found this node id dead is taking up what the previous run held
  if (o.cluster && !(await o.cluster.claimOwnRecovery())) return;
  const restored = (await o.store.members.all()).filter((m) => m.node === o.node);
  o.rooms.restoreMembers(restored);
  await o.recordings.endInterrupted();
  await o.relays.endInterrupted();
  const kept = await o.pullTasks.resume(o.rooms.door);
  o.rooms.expireRestored(kept);
  // The history closed the previous run's sessions at their last known moment when it opened; a resumed task's
  // session is on record again from now (the history alone hears this: the app was told 103 already). The Redis
  // history closes nothing when a node starts, so there the resumed session is still open on record.
  if (o.store.kind === 'redis') return;
  for (const r of restored.filter((m) => kept.has(m.sessionId))) {
    o.history.emit({ type: 'user-entered', sdkAppId: r.sdkAppId, roomId: r.roomId, numericRoom: r.numericRoom, userId: r.userId, role: r.role, source: r.source, at: Date.now() });
  }
}

/**
 * A listener of this process alone (exclusive: not shared by the cluster module's primary) on 127.0.0.1, answering
 * with the same routes: where the other nodes reach this worker when the public port is shared by several.
 */
async function internalListener(app: FastifyInstance, port: number): Promise<{ url: string; close(): void }> {
  const server = createServer((req, res) => app.server.emit('request', req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port, exclusive: true }, resolve);
  });
  const { port: bound } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${bound}`, close: () => void server.close() };
}

/**
 * A drain's hand-over to the least loaded other node: its pull tasks first (their media moves there), then its
 * recordings and relays, which follow the media. With no other node alive (or Redis away) they stay, to end at the
 * close; what the taker refuses ends at once with the usual callbacks. A node with no task looks for no taker and
 * says nothing of it; a kind with no task is skipped.
 */
async function handOverTasks(cluster: Cluster, o: { pullTasks: PullTasks; recordings: Recordings; relays: Relays; uploadMs: number }, log: Logger): Promise<void> {
  if (o.pullTasks.size + o.recordings.size + o.relays.size === 0) return;
  let to: string | null;
  try {
    to = await cluster.taker();
  } catch (err) {
    return log.warn({ err: String(err) }, 'draining: no node to hand the tasks to was found; they end at the close');
  }
  if (!to) return log.info('draining: no other node is alive, so the tasks stay here until the close');
  // each kind counted when its turn comes: a recording may start while the pull tasks move
  const steps: Array<[string, () => number, () => Promise<unknown>]> = [
    ['pull tasks', () => o.pullTasks.size, () => o.pullTasks.handOverAll(to, async (taskId) => (await cluster.handOver(to, 'take', taskId)) === true)],
    ['recordings', () => o.recordings.size, () => o.recordings.handOverAll(to, (taskId, sessions) => cluster.handOver(to, 'record-take', taskId, sessions), o.uploadMs)],
    ['relays', () => o.relays.size, () => o.relays.handOverAll(to, (taskId, sessions) => cluster.handOver(to, 'relay-take', taskId, sessions))],
  ];
  for (const [what, count, step] of steps) {
    if (count() === 0) continue;
    log.info({ to }, `draining: the ${what} move to another node`);
    await step().catch((err: unknown) => log.warn({ err: String(err) }, `draining: the ${what} could not be handed over; they end at the close`));
  }
}

export async function startGateway(config: Config, log: Logger): Promise<Gateway> {
  // Before anything listens: the werift internals roomgate relies on are there (once per process, ~0.3 s). A werift
  // of another shape throws WeriftShapeError, whose one line names the version and the field. The same for the
  // node-media-server internals the RTMP parser relies on: a publish scripted in memory (a few ms) throws
  // NodeMediaServerShapeError.
  checkNodeMediaServer();
  checkRtmpClient();
  await checkWerift();
  const health = new Health();
  const counters = new RefusalCounters();
  // Throws StoreUnavailableError (one line: the file and what to do) when store.file cannot be used.
  const store = openStore({ ...config.store, historyRetentionDays: config.history.retentionDays, log: log.child({ component: 'store' }) });
  health.checks.push(() => store.problem?.());
  // Many nodes sharing one Redis: this node's lease, commands between nodes and the cluster's room census.
  const cluster = store.redis
    ? new Cluster({ redis: store.redis, nodeId: config.node.id, leaseMs: config.node.leaseMs, log: log.child({ component: 'cluster' }) })
    : undefined;
  const node = cluster?.nodeId;
  const callbackApps = new Map(config.apps.map((a) => [a.sdkAppId, a]));
  // the callback round-trip histogram is made with the other metrics, once everything they read exists
  let observeCallback: (ms: number, delivered: boolean) => void = () => {};
  const callbacks = new CallbackDispatcher({
    outbox: store.outbox,
    durable: store.kind === 'redis' || (store.kind === 'sqlite' && config.store.file !== ':memory:'),
    target: (id) => callbackApps.get(id),
    ...config.callbacks,
    log: log.child({ component: 'callbacks' }),
    onAttempt: (ms, delivered) => observeCallback(ms, delivered),
  });
  // The history hears every room event beside the callbacks, and media samples from the rooms' publishers.
  const history = new HistoryFeed(store.history, log.child({ component: 'history' }));
  const retention = keepHistory(store.history, config.history.retentionDays, log.child({ component: 'history' }));
  // Whatever reports room events (101–105, 201–206) reports them here, so the callbacks and the history both hear them.
  const roomEvents = roomEventsTo(callbacks, history);
  // Throws EngineUnavailableError (one line: run scripts/setup) when the native addon is not built.
  let engine: MediaEngine;
  try {
    engine = MediaEngine.start(log.child({ component: 'engine' }));
  } catch (err) {
    retention.stop();
    await cluster?.stop();
    await store.close();
    throw err;
  }
  const apps = appTable(config);
  // who is in each room (101–105); the door asks it whether a join would create the room (the create bit)
  const members = new RoomMembers(
    roomEvents,
    (id) => callbackApps.get(id)?.viewerEvents ?? true,
    { sessions: store.members, log: log.child({ component: 'rooms' }) },
    cluster && { census: cluster.census, node: cluster.nodeId, log: log.child({ component: 'cluster' }) },
  );
  const rooms = new Rooms({
    store,
    engine,
    door: new Door(apps, members, (action, code) => counters.inc(`auth.${action}`, code)),
    members,
    log: log.child({ component: 'rooms' }),
    events: roomEvents,
    media: { opusBitrate: config.room.opusBitrate, opusComplexity: config.room.opusComplexity, reconnectGraceMs: config.room.reconnectGraceMs },
    ...(cluster ? { node: { id: cluster.nodeId, kickElsewhere: (n: string, s: string, r: string) => cluster.kickElsewhere(n, s, r) } } : {}),
  });
  const sampler = new MediaSampler(rooms, (sample) => history.sample(sample));
  sampler.start(config.history.sampleSeconds * 1000);
  const pullTasks = new PullTasks({
    rooms,
    events: callbacks,
    tasks: store.tasks,
    maxTasks: config.api.maxTasks,
    allow: config.pull.allow,
    deny: config.pull.deny,
    task: { ...config.pull, maxPauseMs: config.pull.maxPauseSeconds * 1000, minuteMs: 60_000 },
    log,
    node,
    ...(cluster ? { elsewhere: (n: string, call: TaskCall) => cluster.taskElsewhere(n, call) } : {}),
  });

  // Many nodes: a mix takes the room's publishers on other nodes through the internal feed link (src/mix/feed-link.ts).
  const remote = cluster && new RemotePublishers(cluster, log.child({ component: 'cluster' }));
  const recordings = new Recordings({
    rooms,
    engine,
    ...(remote ? { remote } : {}),
    events: callbacks,
    store: store.recordings,
    config: { ...config.recording, dir: resolve(config.recording.dir) },
    log,
    node,
    ...(cluster ? { elsewhere: (n: string, call: TaskCall) => cluster.taskElsewhere(n, call) } : {}),
  });

  const relays = new Relays({
    rooms,
    engine,
    ...(remote ? { remote } : {}),
    events: callbacks,
    store: store.relays,
    // push URLs obey the pull sources' host rules, and use the same ffmpeg
    config: { ...config.relay, ffmpegPath: config.pull.ffmpegPath, allow: config.pull.allow, deny: config.pull.deny },
    log,
    node,
    ...(cluster ? { elsewhere: (n: string, call: TaskCall) => cluster.taskElsewhere(n, call) } : {}),
  });

  const { minMs, maxMs } = { minMs: config.rtmp.authFailureDelayMinMs, maxMs: config.rtmp.authFailureDelayMaxMs };
  const rtmpServer = new RtmpServer({
    host: config.rtmp.host,
    port: config.rtmp.port,
    maxConnections: config.rtmp.maxConnections,
    maxConnectionsPerAddress: config.rtmp.maxConnectionsPerAddress,
    handshakeTimeoutMs: config.rtmp.handshakeTimeoutMs,
    publishTimeoutMs: config.rtmp.publishTimeoutMs,
    idleTimeoutMs: config.rtmp.idleTimeoutMs,
    limits: { maxChunkSize: config.rtmp.maxChunkSize, maxMessageSize: 16 * 1024 * 1024 - 1, maxChunkStreams: 64 },
    failureDelayMs: () => minMs + Math.random() * (maxMs - minMs),
    rooms,
    log,
    counters,
  });

  const metrics = gatewayMetrics({ rooms, counters, callbacks, pulls: pullTasks, recordings, relays, engine });
  observeCallback = metrics.observeCallback;

  const http: FastifyInstance = createHttpServer(log, config.http, counters);
  registerMetrics(http, metrics.registry, config.admin.token);
  registerHealth(http, health);
  registerRoomRoutes(http, rooms, config.admin.token, cluster && (() => cluster.census.rooms()));
  const clusterView = cluster && { nodeId: cluster.nodeId, nodes: () => cluster.nodes(), rooms: () => cluster.census.rooms() };
  registerClusterRoutes(http, clusterView, config.admin.token);
  if (cluster) {
    // WHEP/WHIP requests for media or sessions on another node go there (src/api/node-forward.ts)
    registerNodeForward(http, {
      nodeId: cluster.nodeId,
      whepOwner: async (sdkAppId, roomId, userId) => {
        const here = rooms.get(sdkAppId, roomId);
        if (here && [...here.publishers.values()].some((p) => !userId || p.id.userId === userId)) return null;
        return cluster.publisherNode({ sdkAppId, roomId, numericRoom: false }, userId);
      },
      resourceOwner: (id) => cluster.resourceOwner(id),
      remember: (id) => cluster.rememberResource(id),
      nodeUrl: (id) => cluster.nodeUrl(id),
    }, log.child({ component: 'cluster' }));
    registerInternalFeed(http, rooms, (fresh) => cluster.linkKey(fresh), log.child({ component: 'cluster' }));
  }
  const webrtcSessions = new WebRtcSessions(config.webrtc, counters, log.child({ component: 'webrtc' }));
  registerWhep(http, { rooms, webrtc: config.webrtc, sessions: webrtcSessions, counters, log: log.child({ component: 'whep' }), observeJoin: metrics.observeJoin });
  registerWhip(http, {
    rooms,
    webrtc: config.webrtc,
    sessions: webrtcSessions,
    counters,
    iceServers: config.webrtc.iceServers,
    log: log.child({ component: 'whip' }),
  });
  registerPlay(http, { rooms, log: log.child({ component: 'play' }) });
  // the API 3.0 actions' services; the console acts through the same action table
  const actionDeps = {
    door: rooms.door,
    service: pullTasks,
    recording: recordings,
    relay: relays,
    history: store.history,
    historyRetentionDays: config.history.retentionDays,
    roomControl: new RoomControl(rooms, log.child({ component: 'room-control' })),
  };
  registerTencentApi(http, {
    credentials: config.api.credentials,
    requestsPerSecond: config.api.requestsPerSecond,
    bodyLimitBytes: config.http.bodyLimitBytes,
    ...actionDeps,
    log,
    observe: metrics.observeApi,
  });
  registerConsole(http, {
    snapshot: new ConsoleSnapshot({ rooms, counters, callbacks, pulls: pullTasks, recordings, relays, ...(clusterView ? { cluster: clusterView } : {}) }),
    actions: tencentActions(actionDeps),
    apps: config.apps,
    adminToken: config.admin.token,
    log: log.child({ component: 'console' }),
  });
  registerRecordingFiles(http, resolve(config.recording.dir), config.admin.token);
  // the same files for the console's links, behind the console's token
  registerRecordingFiles(http, resolve(config.recording.dir), config.admin.token, { prefix: '/console/recordings', onRequest: consoleGuard(config.admin.token) });
  // late-bound: the drain closes the gateway, which is made below
  let drain: () => Promise<void> = async () => {};
  registerDrain(http, () => void drain(), config.drain.timeoutMs, config.admin.token);
  registerTaskRoutes(http, pullTasks, callbacks, counters, config.admin.token);

  let rtmpAddr: { host: string; port: number };
  /** serve --workers: this worker's own listener for requests the other nodes forward. */
  let internal: { url: string; close(): void } | undefined;
  try {
    await recoverAfterRestart({ store, callbacks, history, rooms, pullTasks, recordings, relays, node, cluster });
    rtmpAddr = await rtmpServer.listen();
    await http.listen({ host: config.http.host, port: config.http.port });
    const a = http.server.address();
    const wildcard = ['0.0.0.0', '::', ''].includes(config.http.host);
    internal = cluster && config.node.internalPort >= 0 ? await internalListener(http, config.node.internalPort) : undefined;
    const ownUrl = config.node.httpUrl || internal?.url || `http://${wildcard ? '127.0.0.1' : config.http.host}:${typeof a === 'object' && a ? a.port : config.http.port}`;
    // how this node takes up another node's relays: a dead node's (its sweep) or a draining node's (its hand-over)
    const relayFailover = { relays, store: store.relays, door: rooms.door, log: log.child({ component: 'relay' }) };
    await cluster?.start(ownUrl, {
      command: (cmd) => {
        if (cmd.type === 'kick') rooms.kickSession(cmd.sessionId, cmd.reason);
      },
      task: (call) => {
        if (call.op === 'take') return pullTasks.takeOver(rooms.door, call.taskId, call.from);
        if (call.op === 'record-take') return recordings.takeFromDrain(rooms.door, call.taskId, call.from, call.sessions);
        if (call.op === 'relay-take') return takeRelayFromDrain(relayFailover, call.taskId, call.from, call.sessions);
        if (call.op === 'stop') return pullTasks.stop(call.sdkAppId, call.taskId);
        if (call.op === 'update') return pullTasks.update(call.sdkAppId, call.taskId, call.changes);
        if (call.op === 'record-describe' || call.op === 'record-modify' || call.op === 'record-delete') return recordings.answer(call);
        if (call.op === 'relay-stop') return relays.stop(call.sdkAppId, call.taskId);
        if (call.op === 'relay-update') return relays.update(call.sdkAppId, call.taskId, call.changes);
        return Promise.reject(new Error(`unknown task call ${(call as { op: string }).op}`));
      },
      // a dead node's recordings continue here (306, ha<N>_ files) or end (302), its relays and pull tasks run here
      // (401 Status 1 then 2; 701 Status 2, then 0), and every other session of it leaves with 104 Reason 2
      deadNode: async (id, sessions) => {
        await recordings.takeOver(rooms.door, id);
        await takeOverRelays(relayFailover, id);
        const kept = await pullTasks.resume(rooms.door, id);
        rooms.expireForeign(sessions.filter((s) => !kept.has(s.sessionId)));
        await members.settled();
      },
    });
  } catch (err) {
    internal?.close();
    await rtmpServer.close('start-up failed').catch(() => {});
    sampler.stop();
    engine.close();
    await http.close().catch(() => {});
    retention.stop();
    await cluster?.stop();
    await store.close();
    throw err;
  }
  // many nodes: a single-stream relay goes to the node its user publishes on (Relays.followPublishers)
  const stopFollowing = cluster
    ? relays.followPublishers({
      where: (room, userId) => cluster.publisherNode(room, userId),
      take: (to, taskId, sessions) => cluster.handOver(to, 'relay-take', taskId, sessions),
      graceMs: 2000,
    })
    : () => {};
  const httpAddr = http.server.address();
  const httpPort = typeof httpAddr === 'object' && httpAddr ? httpAddr.port : config.http.port;
  health.state = 'ready';
  log.info({ rtmp: rtmpAddr, http: { host: config.http.host, port: httpPort } }, 'roomgate ready');
  // the files of S3 recordings the previous run was killed under go up now, in the background (305, 310 follow)
  recordings.uploadLeftovers();

  let closing: Promise<void> | null = null;
  let draining: Promise<void> | null = null;
  let markClosed: () => void = () => {};
  const closed = new Promise<void>((r) => (markClosed = r));
  const gateway: Gateway = {
    rooms,
    counters,
    engine,
    rtmp: rtmpAddr,
    rtmpConnections: () => rtmpServer.connectionCount,
    http: { host: config.http.host, port: httpPort },
    close(reason = 'the gateway is shutting down') {
      closing ??= (async () => {
        health.state = 'draining';
        stopFollowing();
        pullTasks.closeAll(reason); // kills every ffmpeg child; the tasks' users leave with 104, then 702
        // every recording file is closed (MP4 trailers, #EXT-X-ENDLIST) while its publishers are still there
        await recordings.closeAll(config.callbacks.flushOnCloseMs);
        // each push ends its RTMP session (5, then 0 per URL) while the callbacks can still go out
        await relays.closeAll();
        // Viewers and WHIP publishers are told at once (BYE, close_notify); RTMP encoders get the reason as status.
        rooms.closeAll(reason);
        await rtmpServer.close(reason);
        sampler.stop();
        engine.close();
        internal?.close();
        await http.close();
        // many nodes: the census answers every leave above first — it decides the 104s and 102s, which go out in
        // the flush below (the node's lease is given back after it)
        await members.settled(true);
        await callbacks.close(config.callbacks.flushOnCloseMs);
        // every exit and dismissal above is in the history file before it closes
        await history.flush();
        retention.stop();
        await cluster?.stop();
        await store.close();
        markClosed();
      })();
      return closing;
    },
    drain() {
      draining ??= (async () => {
        health.state = 'draining';
        stopFollowing();
        rooms.door.drain(DRAIN_REASON);
        log.info({ timeoutMs: config.drain.timeoutMs }, 'draining: new publishers are refused, running sessions may end on their own');
        // many nodes: the tasks move to another live node now (pull: 701 Status 2, then 0 there, no 702;
        // recordings: 306 there, no 302; relays: 401 Status 1 then 2 there, no 5/0)
        if (cluster) await handOverTasks(cluster, { pullTasks, recordings, relays, uploadMs: config.callbacks.flushOnCloseMs }, log);
        const ended = await sessionsEnded(() => rooms.list().length > 0 || pullTasks.size > 0, config.drain.timeoutMs);
        log.info({ ended }, ended ? 'drained: every session ended' : 'drain timeout: closing the sessions left');
        await gateway.close('the gateway is shutting down (drained)');
      })();
      return draining;
    },
    closed,
  };
  drain = () => gateway.drain();
  return gateway;
}
