// Id rules at their boundaries, with the exact reasons handlers pass on.

import t from 'tap';
import {
  checkNumericRoomId,
  checkRoomId,
  checkSdkAppId,
  checkStringRoomId,
  checkUserId,
  describeRoom,
} from '../../src/auth/ids.js';

t.test('user ids: 1–32 bytes of A-Z a-z 0-9 _ -', async (t) => {
  t.equal(checkUserId('a'), null);
  t.equal(checkUserId('user_85034614'), null);
  t.equal(checkUserId('A-z_09'), null);
  t.equal(checkUserId('x'.repeat(32)), null);
  t.equal(checkUserId('x'.repeat(33)), `user id '${'x'.repeat(33)}' is 33 bytes long; the limit is 32`);
  t.equal(checkUserId(''), 'user id is empty');
  t.equal(checkUserId('a b'), "user id 'a b' has a character other than A-Z a-z 0-9 _ -");
  t.equal(checkUserId('bob@x'), "user id 'bob@x' has a character other than A-Z a-z 0-9 _ -");
  t.equal(checkUserId('é'.repeat(16)), `user id '${'é'.repeat(16)}' has a character other than A-Z a-z 0-9 _ -`, '32 bytes, bad chars');
  t.equal(checkUserId('é'.repeat(17)), `user id '${'é'.repeat(17)}' is 34 bytes long; the limit is 32`, 'length counted in bytes');
  t.equal(checkUserId('a\nb'), "user id 'a\\x0ab' has a character other than A-Z a-z 0-9 _ -", 'control characters escaped');
});

t.test('string room ids: 1–64 characters of A-Z a-z 0-9 _ -', async (t) => {
  t.equal(checkStringRoomId('hello-string-room'), null);
  t.equal(checkStringRoomId('r'), null);
  t.equal(checkStringRoomId('r'.repeat(64)), null);
  t.equal(checkStringRoomId('r'.repeat(65)), `room id '${'r'.repeat(65)}' is 65 characters long; the limit is 64`);
  t.equal(checkStringRoomId(''), 'room id is empty');
  t.equal(checkStringRoomId('a b'), "room id 'a b' has a character other than A-Z a-z 0-9 _ -");
  t.equal(checkStringRoomId('a/b'), "room id 'a/b' has a character other than A-Z a-z 0-9 _ -");
  t.equal(checkStringRoomId('0'), null, 'digits are fine in a string room id');
  const long = 'é'.repeat(100);
  t.equal(checkStringRoomId(long), `room id '${'é'.repeat(80)}…' is 100 characters long; the limit is 64`, 'long input shortened');
});

t.test('numeric room ids: integers 1–4294967294', async (t) => {
  t.equal(checkNumericRoomId(1), null);
  t.equal(checkNumericRoomId(4294967294), null);
  t.equal(checkNumericRoomId(0), 'room id 0 is out of range; numeric room ids are integers from 1 to 4294967294');
  t.equal(checkNumericRoomId(4294967295), 'room id 4294967295 is out of range; numeric room ids are integers from 1 to 4294967294');
  t.equal(checkNumericRoomId(-5), 'room id -5 is out of range; numeric room ids are integers from 1 to 4294967294');
  t.equal(checkNumericRoomId(1.5), 'room id 1.5 is not an integer; numeric room ids are integers from 1 to 4294967294');
  t.equal(checkNumericRoomId(Number.NaN), 'room id NaN is not an integer; numeric room ids are integers from 1 to 4294967294');
  t.equal(checkRoomId(7), null);
  t.equal(checkRoomId('7'), null);
  t.equal(checkRoomId(0), checkNumericRoomId(0));
  t.equal(checkRoomId('a b'), checkStringRoomId('a b'));
  t.equal(describeRoom(7), '7');
  t.equal(describeRoom('7'), "'7'");
});

t.test('sdkappids: integers 1–4294967295', async (t) => {
  t.equal(checkSdkAppId(1400000000), null);
  t.equal(checkSdkAppId(1), null);
  t.equal(checkSdkAppId(4294967295), null);
  t.equal(checkSdkAppId(0), 'sdkappid 0 is out of range; it must be an integer from 1 to 4294967295');
  t.equal(checkSdkAppId(4294967296), 'sdkappid 4294967296 is out of range; it must be an integer from 1 to 4294967295');
  t.equal(checkSdkAppId(14.5), 'sdkappid 14.5 is not an integer');
  t.equal(checkSdkAppId(Number.NaN), 'sdkappid NaN is not an integer');
});
