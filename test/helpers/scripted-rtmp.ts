// A scripted RTMP publisher (node-media-server's RtmpClient) for what real encoders here cannot send: H.265 tags
// (legacy codec id 12 and Enhanced RTMP 'hvc1'), and exact timing of publish commands.

import RtmpClient from 'node-media-server/src/protocol/rtmp_client.js';

export interface ScriptedPublisher {
  client: RtmpClient;
  statuses: { code: string; description: string }[];
  closed: Promise<void>;
  /** Resolves on NetStream.Publish.Start, rejects with the description of an error status. */
  publish(nameWithQuery: string): Promise<void>;
  sendVideo(dts: number, body: Buffer): void;
  sendAudio(dts: number, body: Buffer): void;
  close(): void;
}

export async function connectScripted(rtmpBase: string): Promise<ScriptedPublisher> {
  const client = new RtmpClient();
  const statuses: { code: string; description: string }[] = [];
  let onClosed!: () => void;
  const closed = new Promise<void>((r) => (onClosed = r));
  client.onStatusCallback = (code, info) => statuses.push({ code, description: String(info.description ?? '') });
  client.onCloseCallback = () => onClosed();
  client.onErrorCallback = () => {};
  // RtmpClient wants a stream name in the URL; the real one (with the query) goes in the publish command.
  await client.connect(`${rtmpBase}/push/unused`);
  await client.sendConnect();
  await client.sendCreateStream();
  return {
    client,
    statuses,
    closed,
    publish: async (name) => {
      await client.sendPublish(name);
    },
    sendVideo: (dts, body) => client.sendPacket({ codec_type: 9, dts, size: body.length, data: body }),
    sendAudio: (dts, body) => client.sendPacket({ codec_type: 8, dts, size: body.length, data: body }),
    close: () => client.disconnect(),
  };
}

/** A plausible HEVCDecoderConfigurationRecord head (version 1, Main profile); the gateway refuses on the codec id. */
const hvcc = Buffer.from('0101600000009000000000005df000fcfdf8f800000f03', 'hex');

/** Legacy FLV video tag with codec id 12 (H.265 as some Chinese CDNs defined it): key frame, sequence header. */
export function legacyHevcSequenceHeader(): Buffer {
  return Buffer.concat([Buffer.from([0x1c, 0x00, 0x00, 0x00, 0x00]), hvcc]);
}

/** Enhanced RTMP video tag: IsExHeader | key frame | PacketType SequenceStart, FourCC 'hvc1'. */
export function enhancedHevcSequenceStart(fourcc = 'hvc1'): Buffer {
  return Buffer.concat([Buffer.from([0x80 | (1 << 4) | 0]), Buffer.from(fourcc, 'latin1'), hvcc]);
}
