// One RTMP connection, from handshake to close. The publish command is answered only after the stream key is
// parsed, the user authenticated and the room joined: a refusal goes out as an onStatus error whose description is
// the reason, and the socket is ended gently so ffmpeg prints it and OBS stops instead of reconnecting.

import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../log.js';
import { JoinRefused, type Rooms } from '../../room/rooms.js';
import type { Publisher } from '../../room/publisher.js';
import { FlvToMedia } from '../../media/flv-to-media.js';
import { GuardedRtmp, type PublishCommand, type RtmpLimits } from './guarded-rtmp.js';
import { parsePushTarget, type PushTarget } from './publish-url.js';
import { readSocket, type SocketReadMode } from '../../net/socket-reader.js';
import type { RefusalMemory } from './refusal-memory.js';
import { IdleWatch } from './idle-watch.js';
import type { RefusalCounters } from '../../events/refusal-counters.js';
import { planeErrorKind, rtmpErrorKind, type RtmpErrorKind } from './parse-errors.js';
import type { SocketEvent } from '../../room/publisher.js';
import { tcpSocketFd } from '../../node-internals.js';

export interface RtmpConnectionDeps {
  log: Logger;
  rooms: Rooms;
  limits: RtmpLimits;
  /**
   * Deadlines that passed (`rtmp.handshakeTimeout`, `rtmp.publishTimeout`, `rtmp.idleTimeout`) and malformed input
   * by kind (`rtmp.parseError`, `rtmp.planeError`) are counted here, shown by GET /api/limits.
   */
  counters: RefusalCounters;
  /** From accept to the end of the RTMP handshake (C2 received). */
  handshakeTimeoutMs: number;
  publishTimeoutMs: number;
  idleTimeoutMs: number;
  /** Random delay before a refusal is sent, to slow down guessing. */
  failureDelayMs: () => number;
  /** Codec refusals of the last seconds, so an encoder's automatic reconnect is refused at publish time. */
  refusals: RefusalMemory;
}

type State = 'connecting' | 'authenticating' | 'publishing' | 'closed';

/** Media that arrives while auth runs is held (copied) and replayed, up to this many bytes. */
const MAX_PENDING_BYTES = 4 * 1024 * 1024;
/** After ending our side, how long the peer gets to read the status and close its side. */
const LINGER_MS = 3000;

export class RtmpConnection {
  readonly id = randomUUID();
  readonly remote: string;
  private readonly rtmp: GuardedRtmp;
  private readonly log: Logger;
  private state: State = 'connecting';
  private publisher: Publisher | null = null;
  private target: PushTarget | null = null;
  private media: FlvToMedia | null = null;
  private pending: { type: 8 | 9; ts: number; body: Buffer }[] = [];
  private pendingBytes = 0;
  private publishTimer: NodeJS.Timeout | null;
  private handshakeTimer: NodeJS.Timeout | null;
  private idleWatch: IdleWatch | null = null;
  private lingerTimer: NodeJS.Timeout | null = null;
  /** Whether the engine reads the socket yet (it does once publishing, from a message boundary). */
  private handedOver = false;
  private readonly readMode: SocketReadMode;

  constructor(
    private readonly socket: Socket,
    private readonly deps: RtmpConnectionDeps,
    private readonly onClosed: (conn: RtmpConnection) => void,
  ) {
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    this.log = deps.log.child({ conn: this.id.slice(0, 8), remote: this.remote });
    this.rtmp = new GuardedRtmp(deps.limits);
    this.rtmp.onOutputCallback = (buf) => {
      if (!socket.destroyed && socket.writable) socket.write(buf);
    };
    this.rtmp.onMedia = (type, ts, body) => this.onMedia(type, ts, body);
    // A rejection here would be unhandled and end the process: whatever fails in the publish path ends this
    // connection only, with the reason.
    this.rtmp.onPublish = (msg) =>
      void this.onPublish(String(msg.streamName ?? ''), msg).catch((err: unknown) => {
        this.log.error({ err }, 'publish failed unexpectedly');
        this.refuse('NetStream.Publish.BadName', 'internal error while starting the stream');
      });
    this.rtmp.onPlay = () => this.refuse('NetStream.Play.Failed', 'playing over RTMP is not supported: play the room over WHEP');
    this.rtmp.onDeleteStream = () => this.finish('publisher stopped the stream');
    // An encoder finishes the handshake within a round trip or two; a socket that has not by the deadline is idle or
    // hostile, and would otherwise hold a connection slot until the publish deadline. The timer checks the parser's
    // own handshake state when it fires, so nothing is added to the read path.
    this.handshakeTimer = setTimeout(() => {
      this.handshakeTimer = null;
      if (this.state !== 'connecting' || this.rtmp.handshakeDone()) return;
      this.log.info({ timeoutMs: deps.handshakeTimeoutMs }, 'closing: the RTMP handshake did not finish in time');
      deps.counters.inc('rtmp.handshakeTimeout');
      this.destroy();
    }, deps.handshakeTimeoutMs);
    this.handshakeTimer.unref();
    this.publishTimer = setTimeout(() => {
      this.log.info({ timeoutMs: deps.publishTimeoutMs }, 'closing: no publish in time');
      deps.counters.inc('rtmp.publishTimeout');
      this.destroy();
    }, deps.publishTimeoutMs);
    this.publishTimer.unref();
    socket.setNoDelay(true);
    this.readMode = readSocket(socket, (data) => this.onData(data));
    socket.on('error', (err) => this.log.debug({ err: err.message }, 'socket error'));
    socket.on('close', () => this.onSocketClose());
  }

  /** Ends this session from outside (kick, shutdown): the peer reads the reason, then the socket closes. */
  kick(reason: string): void {
    this.refuse('NetStream.Publish.Rejected', reason);
  }

  private onData(data: Buffer): void {
    if (this.state === 'closed') return;
    try {
      if (this.rtmp.parserData(data)) this.destroy();
      else if (this.publisher && !this.handedOver) this.handOver();
    } catch (err) {
      // A malformed chunk stream or AMF command closes this connection only.
      this.malformed('rtmp.parseError', rtmpErrorKind(err), err);
    }
  }

  /**
   * Counts, logs and closes on malformed input, once per connection (the first error closes it; anything after
   * is an echo of the same input). Whatever was thrown is counted: an unguarded kind shows up in GET /api/limits.
   */
  private malformed(counter: 'rtmp.parseError' | 'rtmp.planeError', kind: RtmpErrorKind, err: unknown): void {
    if (this.state === 'closed') return;
    const message = err instanceof Error ? err.message : String(err);
    this.deps.counters.inc(counter, kind);
    this.log.warn({ kind, err: message }, 'closing: malformed RTMP data');
    this.finish(`malformed RTMP data: ${message}`);
    this.destroy();
  }

  private async onPublish(publishName: string, msg: PublishCommand): Promise<void> {
    if (this.state !== 'connecting') {
      this.refuse('NetStream.Publish.BadName', 'this connection is already publishing a stream');
      return;
    }
    this.state = 'authenticating';
    this.rtmp.streamId = this.rtmp.commandStreamId();
    const target = parsePushTarget(this.rtmp.streamApp, publishName);
    if ('reason' in target) return this.refuseLater('NetStream.Publish.BadName', target.reason);
    const auth = this.deps.rooms.door.enter({
      sdkAppId: target.sdkAppId,
      userId: target.userId,
      roomId: target.roomId,
      credential: { kind: 'usersig', value: target.userSig },
      ...(target.privateMapKey ? { privateMapKey: target.privateMapKey } : {}),
      action: 'publish',
    });
    if (!auth.ok) {
      const code = auth.status === 401 || auth.status === 403 ? 'NetStream.Publish.Unauthorized' : 'NetStream.Publish.BadName';
      return this.refuseLater(code, auth.reason);
    }
    // Only encoders that reconnect on their own (OBS and other librtmp clients say FMSc in flashVer) are held to a
    // recent refusal: ffmpeg never retries by itself, and a person re-running it has changed something.
    const flashVer = String(this.rtmp.connectCmdObj?.flashVer ?? '');
    const refusedBefore = /FMSc/i.test(flashVer) ? this.deps.refusals.recall(target.sdkAppId, target.userId) : null;
    if (refusedBefore) return this.refuseLater('NetStream.Publish.BadName', refusedBefore);
    this.target = target;
    let publisher: Publisher;
    try {
      publisher = await this.deps.rooms.addPublisher(auth.ticket, { source: 'rtmp', remote: this.remote, sessionId: this.id }, (reason) => this.kick(reason));
    } catch (err) {
      // the room closed since the door let the user in, and this user may not create it
      if (err instanceof JoinRefused) return this.refuseLater('NetStream.Publish.Unauthorized', err.refusal.reason);
      throw err;
    }
    if (this.state !== 'authenticating') {
      publisher.end('publisher disconnected during join');
      return;
    }
    this.publisher = publisher;
    this.media = new FlvToMedia(publisher);
    this.state = 'publishing';
    publisher.onSocketEvent = (e) => this.onPlaneEvent(e);
    if (this.publishTimer) clearTimeout(this.publishTimer);
    this.publishTimer = null;
    this.rtmp.acceptPublish(msg); // sends NetStream.Publish.Start
    this.log.info({ sdkAppId: target.sdkAppId, roomId: target.roomId, userId: target.userId }, 'publishing');
    const held = this.pending;
    this.pending = [];
    for (const p of held) this.onMedia(p.type, p.ts, p.body);
    this.handOver();
    if (this.state === 'publishing') this.idleWatch = new IdleWatch(() => publisher.framesIn(), this.deps.idleTimeoutMs, (ms) => this.onIdle(publisher, ms));
  }

  /**
   * No frame for idleTimeoutMs: the encoder is told why (if it still reads) and the user leaves with Reason 2. A
   * stream of only what the user's key does not let in (video with send-audio alone) ends here too, refused: the
   * reason says so, and it is no timeout.
   */
  private onIdle(publisher: Publisher, silentMs: number): void {
    if (this.publisher !== publisher) return;
    const seconds = Math.round(this.deps.idleTimeoutMs / 100) / 10;
    if (publisher.framesIn() === 0 && publisher.droppedFrames() > 0) {
      const why = (['video', 'audio'] as const).map((k) => publisher.refused[k] && `no ${k}: the user ${publisher.refused[k]}`).filter(Boolean);
      this.log.info({ silentMs }, 'closing: nothing the user may send arrived');
      this.refuse('NetStream.Publish.Rejected', `nothing this user may publish arrived for ${seconds} s (${why.join('; ')})`);
      return;
    }
    this.log.info({ silentMs, timeoutMs: this.deps.idleTimeoutMs }, 'closing: the publisher sent no media in time');
    this.deps.counters.inc('rtmp.idleTimeout');
    publisher.timedOut = true; // read by Rooms when the user leaves: callback 104 Reason 2 (timeout)
    this.refuse('NetStream.Publish.Rejected', `no media for ${seconds} s: closing the stream`);
  }

  /**
   * Gives the socket to the media engine once the RTMP parser stands at a message boundary (usually at once:
   * encoders write whole messages): the engine continues the chunk stream from the parser's state, and this side
   * stops reading. Until then frames take the JavaScript parse and are pushed to the publisher's pipe.
   */
  private handOver(): void {
    const pipe = this.publisher?.pipe;
    const fd = tcpSocketFd(this.socket);
    // Only a socket read in onread mode stops reading at once on pause(); a stream-mode socket may already hold bytes.
    if (!pipe || this.state !== 'publishing' || this.readMode !== 'reused-buffer' || fd < 0) return;
    const parser = this.rtmp.handOverState(); // null: inside a chunk or a message
    if (!parser) return;
    const { chunkSize, streams } = parser;
    this.socket.pause();
    this.handedOver = true;
    const { maxChunkSize, maxMessageSize, maxChunkStreams } = this.deps.limits;
    pipe.attachSocket({ fd, chunkSize, streams, maxChunkSize, maxMessageSize, maxChunkStreams });
  }

  private onPlaneEvent(e: SocketEvent): void {
    switch (e.kind) {
      case 'media':
        // a message the plane does not handle itself: the JavaScript parse and policy decide, then it goes on
        try {
          this.onMedia(e.type, e.timestamp, e.body);
        } catch (err) {
          // our FLV parse must only ever refuse; thrown here it would escape into the plane's event callback
          this.malformed('rtmp.parseError', rtmpErrorKind(err), err);
        } finally {
          if (this.state === 'publishing') this.publisher?.pipe.resume(); // the pipe waits for this
        }
        return;
      case 'message':
        try {
          this.rtmp.dispatchCommand(e.type, e.timestamp, e.body);
        } catch (err) {
          this.malformed('rtmp.parseError', rtmpErrorKind(err), err);
        }
        return;
      case 'ended':
        this.finish(e.reason);
        this.socket.destroy();
        return;
      case 'protocol-error':
        this.malformed('rtmp.planeError', planeErrorKind(e.text), new Error(e.text));
        return;
      default: {
        const unhandled: never = e;
        return unhandled;
      }
    }
  }

  private onMedia(type: 8 | 9, ts: number, body: Buffer): void {
    if (this.state === 'publishing' && this.media) {
      // a kind the user's PrivateMapKey does not let in is dropped before any parse or policy: the other goes on
      if (!this.publisher?.takes(type === 9 ? 'video' : 'audio')) return;
      const refusal = this.media.push(type, ts, body);
      if (refusal) {
        this.log.info({ code: refusal.code, reason: refusal.reason }, 'stream refused');
        this.deps.counters.inc('rtmp.publishRefused', refusal.code);
        if (refusal.code !== 'malformed' && this.target) this.deps.refusals.note(this.target.sdkAppId, this.target.userId, refusal.reason);
        this.refuse('NetStream.Publish.Rejected', refusal.reason);
      }
      return;
    }
    if (this.state === 'authenticating' && this.pendingBytes + body.length <= MAX_PENDING_BYTES) {
      this.pending.push({ type, ts, body: Buffer.from(body) }); // the parser reuses `body`
      this.pendingBytes += body.length;
    }
  }

  private refuseLater(code: string, reason: string): void {
    const delay = this.deps.failureDelayMs();
    this.log.info({ code, reason, delayMs: delay }, 'publish refused');
    setTimeout(() => this.refuse(code, reason), delay).unref();
  }

  /** Sends an error status with the reason, stops reading media, ends our side and lets the peer close. */
  private refuse(code: string, reason: string): void {
    if (this.state === 'closed') return;
    this.rtmp.sendStatusMessage(this.rtmp.streamId ?? 0, 'error', code, reason);
    this.finish(reason);
    this.socket.end();
    this.lingerTimer = setTimeout(() => this.destroy(), LINGER_MS);
    this.lingerTimer.unref();
  }

  /** Leaves the room (if in it) and stops handling input. */
  private finish(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.pending = [];
    this.rtmp.onMedia = () => {};
    if (this.publishTimer) clearTimeout(this.publishTimer);
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.idleWatch?.stop();
    this.publisher?.end(reason); // closes the plane's pipe: the plane no longer reads the socket
    this.publisher = null;
    if (this.handedOver && !this.socket.destroyed) this.socket.resume(); // so that the peer's close is seen
  }

  private destroy(): void {
    this.finish('connection closed');
    this.socket.destroy();
  }

  private onSocketClose(): void {
    this.finish('publisher disconnected');
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.onClosed(this);
  }
}
