// The H.264 decoder configuration of one publisher, kept current from a decoder configuration record (RTMP) and
// from in-band SPS/PPS (OBS repeats them at every IDR; WHIP publishers send nothing else). A new or changed set
// replaces the entry with the same id and moves to the front: sps[0] is always the SPS the config describes.

import type { H264Config } from './model.js';
import { NAL_PPS, NAL_SPS, parsePpsIds, parseSps } from './h264.js';

export class H264ParameterSets {
  config: H264Config | null = null;
  private sps: Buffer[] = [];
  private pps: Buffer[] = [];
  private spsIds: number[] = [];
  private ppsIds: number[] = [];

  /** Replaces everything (a new sequence header). Returns false when it repeats the current config. */
  setAll(sps: Buffer[], pps: Buffer[], naluLengthSize: number): boolean {
    const cur = this.config;
    if (cur && cur.naluLengthSize === naluLengthSize && sameBuffers(cur.sps, sps) && sameBuffers(cur.pps, pps)) return false;
    this.sps = sps;
    this.pps = pps;
    this.spsIds = sps.map((s) => parseSps(s).spsId);
    this.ppsIds = pps.map((p) => parsePpsIds(p).ppsId);
    this.build(naluLengthSize);
    return true;
  }

  /**
   * Takes the SPS/PPS among `nalus`. Returns true when the config changed (or came into being: that needs at
   * least one SPS and one PPS). An identical set costs one compare.
   */
  update(nalus: readonly Buffer[]): boolean {
    let changed = false;
    for (const nal of nalus) {
      const t = nal[0]! & 0x1f;
      if (t === NAL_SPS && !contains(this.sps, nal)) {
        [this.sps, this.spsIds] = moveToFront(this.sps, this.spsIds, nal, parseSps(nal).spsId);
        changed = true;
      } else if (t === NAL_PPS && !contains(this.pps, nal)) {
        [this.pps, this.ppsIds] = moveToFront(this.pps, this.ppsIds, nal, parsePpsIds(nal).ppsId);
        changed = true;
      }
    }
    if (!changed || this.sps.length === 0 || this.pps.length === 0) return false;
    this.build(this.config?.naluLengthSize ?? 4);
    return true;
  }

  private build(naluLengthSize: number): void {
    const info = parseSps(this.sps[0]!);
    this.config = {
      codec: 'H264', profile: info.profile, profileName: info.profileName, level: info.level,
      width: info.width, height: info.height, fps: info.fps, naluLengthSize, sps: this.sps, pps: this.pps,
    };
  }
}

function sameBuffers(a: readonly Buffer[], b: readonly Buffer[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!a[i]!.equals(b[i]!)) return false;
  return true;
}

/** A new list with `nal` first, without the entry that had the same id. */
function moveToFront(list: readonly Buffer[], ids: readonly number[], nal: Buffer, id: number): [Buffer[], number[]] {
  const outList = [nal];
  const outIds = [id];
  for (let i = 0; i < list.length; i++) {
    if (ids[i] === id) continue;
    outList.push(list[i]!);
    outIds.push(ids[i]!);
  }
  return [outList, outIds];
}

function contains(list: readonly Buffer[], nal: Buffer): boolean {
  for (const x of list) if (x.equals(nal)) return true;
  return false;
}
