// The AMF0 command messages the gateway writes itself (onStatus, _error), with correct string lengths:
// node-media-server writes them in UTF-16 units, so a reason with "→" reaches ffmpeg short by two bytes per arrow.

const AMF_NUMBER = 0x00;
const AMF_STRING = 0x02;
const AMF_OBJECT = 0x03;
const AMF_NULL = 0x05;
const AMF_OBJECT_END = 0x09;

/** `command transId null {level, code, description}`: the body of an onStatus or an _error answer. */
export function amf0Status(command: 'onStatus' | '_error', transId: number, level: string, code: string, description: string): Buffer {
  return Buffer.concat([
    amfString(command),
    amfNumber(transId),
    Buffer.from([AMF_NULL]),
    Buffer.from([AMF_OBJECT]),
    amfProperty('level', level),
    amfProperty('code', code),
    amfProperty('description', description),
    Buffer.from([0, 0, AMF_OBJECT_END]),
  ]);
}

/** AMF0 UTF-8 string body: 16-bit BYTE length, then the bytes (cut at 65535 bytes). */
function utf8(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8').subarray(0, 0xffff);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

function amfString(s: string): Buffer {
  return Buffer.concat([Buffer.from([AMF_STRING]), utf8(s)]);
}

function amfNumber(n: number): Buffer {
  const b = Buffer.alloc(9);
  b[0] = AMF_NUMBER;
  b.writeDoubleBE(n, 1);
  return b;
}

function amfProperty(name: string, value: string): Buffer {
  return Buffer.concat([utf8(name), amfString(value)]);
}
