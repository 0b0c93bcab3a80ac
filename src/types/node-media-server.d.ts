// Types for the parts of node-media-server 4.4.3 we use: its low-level RTMP protocol class (handshake, chunk
// stream, AMF commands), its FLV parser (made empty by guarded-rtmp.ts) and, in tests, its scripted RTMP client.
// The package ships no types and no exports map. Outside tests only src/ingest/rtmp/guarded-rtmp.ts imports these
// modules: its start-up check `checkNodeMediaServer()` verifies the internals declared here.

declare module 'node-media-server/src/protocol/rtmp.js' {
  interface RtmpPacketHeader {
    fmt: number;
    cid: number;
    timestamp: number;
    length: number;
    type: number;
    stream_id: number;
  }
  interface RtmpPacket {
    header: RtmpPacketHeader;
    clock: number;
    payload: Buffer;
    capacity: number;
    bytes: number;
  }
  interface InvokeMessage {
    cmd: string;
    transId: number;
    cmdObj?: Record<string, unknown> | null;
    streamName?: string;
    [k: string]: unknown;
  }
  class Rtmp {
    /** 0 before C0, 1 reading C1, 2 reading C2, 3 handshake done (RTMP_HANDSHAKE_2): chunks follow. */
    handshakeState: number;
    /** The chunk parser's step: 0 (RTMP_PARSE_INIT) between chunks, 1–4 inside a chunk's header or payload. */
    parserState: number;
    parserPacket: RtmpPacket;
    inPackets: Map<number, RtmpPacket>;
    inChunkSize: number;
    outChunkSize: number;
    /** The FLV parser the constructor makes; roomgate never feeds it (guarded-rtmp.ts makes its buffer start empty). */
    flv: { parserTagData: Buffer };
    streamApp?: string;
    streamName?: string;
    streamId: number;
    connectCmdObj?: Record<string, unknown>;
    onOutputCallback: (buffer: Buffer) => void;
    onPacketCallback: (packet: unknown) => void;
    onConnectCallback: (req: unknown) => void;
    onPushCallback: () => void;
    onPlayCallback: () => void;
    parserData(buffer: Buffer): string | null;
    /** The chunk stream after the handshake (tests feed it directly). */
    chunkRead(data: Buffer, p: number, bytes: number): string | null;
    packetAlloc(): void;
    packetParse(): void;
    /** Dispatches a complete message by type (tests replace it to record every message). */
    packetHandler(): void;
    controlHandler(): void;
    dataHandler(): void;
    invokeHandler(): void;
    onConnect(msg: InvokeMessage): void;
    onCreateStream(msg: InvokeMessage): void;
    onPublish(msg: InvokeMessage): void;
    onPlay(msg: InvokeMessage): void;
    onDeleteStream(msg: InvokeMessage): void;
    respondPublish(): void;
    sendStatusMessage(sid: number, level: string, code: string, description: string): void;
    static chunksCreate(packet: { header: RtmpPacketHeader; payload: Buffer }): Buffer;
  }
  export = Rtmp;
}

declare module 'node-media-server/src/protocol/flv.js' {
  class Flv {
    /** The tag buffer's size; the constructor allocates it, parserTagAlloc grows it before every copy. */
    parserTagCapacity: number;
    parserTagData: Buffer;
    parserTagAlloc(size: number): void;
  }
  export = Flv;
}

declare module 'node-media-server/src/protocol/rtmp_client.js' {
  class RtmpClient {
    onStatusCallback: (code: string, info: Record<string, unknown>) => void;
    onCloseCallback: (hadError: boolean) => void;
    onErrorCallback: (error: Error) => void;
    connect(url: string): Promise<void>;
    sendConnect(): Promise<unknown>;
    sendCreateStream(): Promise<unknown>;
    sendPublish(name?: string): Promise<unknown>;
    sendMetaData(meta: Record<string, unknown>): void;
    sendPacket(packet: { codec_type: number; dts: number; size: number; data: Buffer }): void;
    disconnect(): void;
  }
  export = RtmpClient;
}

declare module 'node-media-server/src/protocol/amf.js' {
  /** An AMF0 command: its name, transaction id and the named arguments node-media-server knows for that name. */
  function decodeAmf0Cmd(body: Buffer): { cmd?: unknown; transId?: unknown; cmdObj?: unknown; streamName?: unknown; [k: string]: unknown };
  function encodeAmf0Cmd(opt: Record<string, unknown>): Buffer;
}

declare module 'node-media-server/src/core/logger.js' {
  const logger: { level: string; log(message: string, level?: string): void };
  export = logger;
}
