// How TRTC's query answers encode what the history holds: the EventIds of DescribeUserEvent (TRTC's "Event ID
// Mapping Table", SDK events) and the DataTypes of DescribeCallDetailInfo.
//
// EventIds, from the SDK table (each user's events as a native client reports them, the table with exit reasons):
//   7000/0 entered the room normally; 7001/0 exited normally, 7001/1 timed out, 7001/2 kicked out;
//   4006/0 enabled video upstreaming, 4006/1 disabled it (201/202); 3001/0 the mic started capturing, 3001/2 mic
//   capturing disabled (203/204: the audio the gateway takes in starts and stops); 4007/width/height the user switched
//   video resolution (a media sample with another picture size than the one before).
// Type: 2 (big picture) for video events, 0 for the others. ParamTwo is -1 where the table has no second parameter.

import type { SampleRecord, UserEventRecord } from '../store/history.js';

export interface EventMessage {
  Type: number;
  Time: number;
  EventId: number;
  ParamOne: number;
  ParamTwo: number;
}

const NON_VIDEO = 0;
const BIG_VIDEO = 2;
const EXIT_PARAM = { normal: 0, timeout: 1, kicked: 2 } as const;

export function eventMessage(e: UserEventRecord): EventMessage {
  const m = (type: number, eventId: number, one: number, two = -1): EventMessage => ({ Type: type, Time: e.at, EventId: eventId, ParamOne: one, ParamTwo: two });
  switch (e.kind) {
    case 'entered':
      return m(NON_VIDEO, 7000, 0);
    case 'exited':
      return m(NON_VIDEO, 7001, EXIT_PARAM[e.reason ?? 'normal']);
    case 'video-on':
      return m(BIG_VIDEO, 4006, 0);
    case 'video-off':
      return m(BIG_VIDEO, 4006, 1);
    case 'audio-on':
      return m(NON_VIDEO, 3001, 0);
    case 'audio-off':
      return m(NON_VIDEO, 3001, 2);
    case 'resolution':
      return m(BIG_VIDEO, 4007, e.width ?? 0, e.height ?? 0);
  }
}

/**
 * The DataTypes the gateway measures, each read from a media sample (upstream only: PeerId ''). Loss is a percentage
 * of RTP packets and exists for WHIP publishers only: RTMP and pull sources come over TCP, where nothing is lost to
 * count, so their series are left out rather than filled with zeros.
 */
export const MEASURED: Record<string, (s: SampleRecord) => number | null> = {
  aBit: (s) => s.audio?.bitrate ?? null,
  bigvBit: (s) => s.video?.bitrate ?? null,
  bigvWidth: (s) => s.video?.width ?? null,
  bigvHeight: (s) => s.video?.height ?? null,
  // "cloud-arrival frame rate": frames per second as they reached the gateway
  bigvRecFps: (s) => s.video?.fps ?? null,
  aLoss: (s) => percent(s.audio?.loss),
  bigvLoss: (s) => percent(s.video?.loss),
};

/** TRTC's other DataTypes, with what the gateway would need to answer them. */
export const NOT_MEASURED: Record<string, string> = {
  appCpu: 'the client\'s app CPU load, which only TRTC\'s SDK reports',
  sysCpu: 'the client\'s system CPU load, which only TRTC\'s SDK reports',
  aBlock: 'audio stalls as a player sees them; the gateway plays nothing',
  bigvBlock: 'video stalls as a player sees them; the gateway plays nothing',
  bigvCapFps: 'the camera\'s capture rate, which only the client knows (bigvRecFps is the rate that arrived)',
  bigvEncFps: 'the encoder\'s output rate, which only the client knows (bigvRecFps is the rate that arrived)',
  bigvDecFps: 'a player\'s render rate; the gateway renders nothing',
  aCapEnergy: 'the microphone level, which only the client knows',
  aPlayEnergy: 'a player\'s output level; the gateway plays nothing',
  rtt: 'round-trip times, which the gateway does not sample',
};

function percent(loss: number | null | undefined): number | null {
  return loss === null || loss === undefined ? null : Math.round(loss * 10000) / 100;
}
