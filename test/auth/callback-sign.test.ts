// Callback `Sign`: Tencent's documented vector, byte for byte (its body is tab-indented JSON).

import t from 'tap';
import { signCallbackBody, verifyCallbackSign } from '../../src/auth/callback-sign.js';

const KEY = '123654';
const BODY =
  '{\n\t"EventGroupId":\t2,\n\t"EventType":\t204,\n\t"CallbackTs":\t1664209748188,\n\t"EventInfo":\t{\n' +
  '\t\t"RoomId":\t8489,\n\t\t"EventTs":\t1664209748,\n\t\t"EventMsTs":\t1664209748180,\n' +
  '\t\t"UserId":\t"user_85034614",\n\t\t"Reason":\t0\n\t}\n}';
const SIGN = 'kkoFeO3Oh2ZHnjtg8tEAQhtXK16/KI05W3BQff8IvGA=';

t.test('reproduces the documented Sign vector', async (t) => {
  t.equal(signCallbackBody(KEY, BODY), SIGN);
  t.equal(signCallbackBody(KEY, Buffer.from(BODY, 'utf8')), SIGN, 'same over the raw bytes');
});

t.test('the signature covers the body exactly as sent', async (t) => {
  const reserialized = JSON.stringify(JSON.parse(BODY));
  t.not(signCallbackBody(KEY, reserialized), SIGN, 'same JSON, different whitespace, different Sign');
  t.not(signCallbackBody('123655', BODY), SIGN);
  t.equal(verifyCallbackSign(KEY, BODY, SIGN), true);
  t.equal(verifyCallbackSign(KEY, BODY.replace('8489', '8488'), SIGN), false);
  t.equal(verifyCallbackSign(KEY, BODY, SIGN.slice(0, -1)), false, 'length mismatch is a plain false, not a throw');
});
