import t from 'tap';
import { fileId, hlsStem, mixedStem, userStem, utcStamp } from '../../src/record/names.js';

t.test('user ids are base64 with / → - and = → . (the reference example: 1686119 → MTY4NjExOQ..)', async (t) => {
  t.equal(fileId('1686119'), 'MTY4NjExOQ..');
  t.equal(fileId('???'), 'Pz8-'); // base64 Pz8/
  t.equal(fileId('>>>'), 'Pj4+'); // the plus is left as it is
  t.equal(fileId('a'), 'YQ..'); // base64 YQ==
});

t.test('single-stream and mixed stems follow trtc-egress §2.2 for numeric and string rooms', async (t) => {
  const numeric = { sdkAppId: 1400123456, roomId: '12345', numericRoom: true };
  t.equal(hlsStem(numeric, '1686119', 'video'), '1400123456_12345__UserId_s_MTY4NjExOQ..__UserId_e_main_video');
  t.equal(hlsStem(numeric, '1686119', 'audio', true), '1400123456_12345__UserId_s_MTY4NjExOQ..__UserId_e_aux_audio');
  t.equal(userStem(numeric, '1686119'), '1400123456_12345__UserId_s_MTY4NjExOQ..__UserId_e_main');
  t.equal(mixedStem(numeric), '1400123456_12345');
  const text = { sdkAppId: 1400123456, roomId: 'room?1', numericRoom: false };
  t.equal(mixedStem(text), `1400123456_${fileId('room?1')}`);
  t.equal(mixedStem(text), '1400123456_cm9vbT8x');
});

t.test('the UTC stamp is 17 digits, UTC+0', async (t) => {
  t.equal(utcStamp(Date.UTC(2033, 4, 31, 9, 45, 51, 825)), '20330531094551825');
  t.equal(utcStamp(Date.UTC(2021, 0, 2, 3, 4, 5, 6)), '20210102030405006');
});
