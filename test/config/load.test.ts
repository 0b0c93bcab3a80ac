import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadConfig, ConfigError } from '../../src/config/load.js';
import { DEMO_SECRET_KEY } from '../../src/config/schema.js';
import { repoPath } from '../../src/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'roomgate-config-'));
function file(name: string, content: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}

const app = { sdkAppId: 1400000001, secretKey: 'k1' };

t.test('defaults load and carry the required keys', async (t) => {
  const c = loadConfig({ env: {} });
  t.equal(c.rtmp.host, '127.0.0.1');
  t.equal(c.rtmp.port, 1935);
  t.equal(c.http.host, '127.0.0.1');
  t.equal(c.http.port, 8080);
  t.equal(c.apps.length, 1);
  t.equal(c.apps[0].secretKey, DEMO_SECRET_KEY);
  t.equal(c.apps[0].callbackUrl, '');
  t.type(c.apps[0].callbackKey, 'string');
  t.equal(c.api.credentials[0].secretId, 'AKIDroomgatedemo');
});

t.test('a file merges over defaults; array items get their defaults', async (t) => {
  const c = loadConfig({ file: file('merge.json', { http: { port: 9090 }, apps: [app] }), env: {} });
  t.equal(c.http.port, 9090);
  t.equal(c.http.host, '127.0.0.1', 'sibling key kept from defaults');
  t.same(c.apps, [{ ...app, callbackUrl: '', callbackKey: '', requirePrivateMapKey: false, viewerEvents: true }]);
});

t.test('ROOMGATE_<PATH> environment variables override single keys', async (t) => {
  const c = loadConfig({
    env: { ROOMGATE_HTTP_PORT: '8181', ROOMGATE_RTMP_MAXCONNECTIONS: '5', ROOMGATE_APPS_0_SECRETKEY: 'fromenv', ROOMGATE_ADMIN_TOKEN: 'tok' },
  });
  t.equal(c.http.port, 8181);
  t.equal(c.rtmp.maxConnections, 5);
  t.equal(c.apps[0].secretKey, 'fromenv');
  t.equal(c.admin.token, 'tok');
  const withArray = loadConfig({ env: { ROOMGATE_APPS: JSON.stringify([app]) } });
  t.equal(withArray.apps[0].sdkAppId, 1400000001);
});

const errors: [string, object | string, RegExp][] = [
  ['unknown key', { rtmp: { prot: 1935 } }, /^rtmp\.prot: unknown key \(known here: host, port/],
  ['unknown top-level key', { rmtp: {} }, /^rmtp: unknown key/],
  ['a removed key says what became of it', { rtmp: { dataPlane: false } }, /^rtmp\.dataPlane: removed — every publisher now runs on the native media engine.*; delete it from the config$/],
  ['webrtc.nativeSend is removed too', { webrtc: { nativeSend: true } }, /^webrtc\.nativeSend: removed — /],
  ['wrong type', { http: { port: '8080' } }, /^http\.port: must be a whole number, got string "8080"$/],
  ['port out of range', { rtmp: { port: 70000 } }, /^rtmp\.port: 70000 is out of range 0–65535$/],
  ['negative port', { http: { port: -1 } }, /^http\.port: -1 is out of range/],
  ['duplicate sdkAppId', { apps: [app, { ...app, secretKey: 'k2' }] }, /^apps\[1\]\.sdkAppId: duplicate sdkAppId 1400000001 \(also at apps\[0\]\)$/],
  ['empty secretKey', { apps: [{ sdkAppId: 1, secretKey: '  ' }] }, /^apps\[0\]\.secretKey: must not be empty$/],
  ['missing secretKey', { apps: [{ sdkAppId: 1 }] }, /^apps\[0\]\.secretKey: missing$/],
  ['sdkAppId not a number', { apps: [{ sdkAppId: 'x', secretKey: 'k' }] }, /^apps\[0\]\.sdkAppId: must be a whole number/],
  ['apps not an array', { apps: {} }, /^apps: must be an array, got an object$/],
  ['empty api secretKey', { api: { credentials: [{ secretId: 'a', secretKey: '' }] } }, /^api\.credentials\[0\]\.secretKey: must not be empty$/],
  ['duplicate secretId', { api: { credentials: [{ secretId: 'a', secretKey: 'x' }, { secretId: 'a', secretKey: 'y' }] } }, /duplicate secretId "a"/],
  ['bad log level', { log: { level: 'loud' } }, /^log\.level: must be one of trace, debug/],
  ['bad pull.allow range', { pull: { allow: ['10.0.0.0/33'] } }, /^pull\.allow\[0\]: '10\.0\.0\.0\/33' is not a CIDR range$/],
  ['retry interval too small', { callbacks: { retryIntervalMs: 1 } }, /^callbacks\.retryIntervalMs: 1 is out of range/],
  ['opus complexity above 10', { room: { opusComplexity: 11 } }, /^room\.opusComplexity: 11 is out of range 0–10$/],
  ['not JSON', '{ "http": ', /not valid JSON/],
  ['not an object', '[1]', /must hold a JSON object/],
];
for (const [name, content, re] of errors) {
  t.test(`config error: ${name}`, async (t) => {
    const p = file(`${name.replace(/\W+/g, '-')}.json`, content);
    t.throws(() => loadConfig({ file: p, env: {} }), re);
    try {
      loadConfig({ file: p, env: {} });
    } catch (e) {
      t.type(e, ConfigError);
      t.notMatch((e as Error).message, /\n/, 'one line');
    }
  });
}

t.test('cross-key rules name the key', async (t) => {
  t.throws(
    () => loadConfig({ env: { ROOMGATE_WEBRTC_UDPPORTMIN: '41000', ROOMGATE_WEBRTC_UDPPORTMAX: '40000' } }),
    /^webrtc\.udpPortMin: must be below webrtc\.udpPortMax$/,
  );
  t.throws(
    () => loadConfig({ env: { ROOMGATE_RTMP_AUTHFAILUREDELAYMINMS: '500', ROOMGATE_RTMP_AUTHFAILUREDELAYMAXMS: '100' } }),
    /^rtmp\.authFailureDelayMinMs: must not exceed rtmp\.authFailureDelayMaxMs$/,
  );
  const c = loadConfig({ env: { ROOMGATE_WEBRTC_ICESERVERS: '[{"urls":"stun:127.0.0.1:3478"}]' } });
  t.same(c.webrtc.iceServers, [{ urls: 'stun:127.0.0.1:3478', username: '', credential: '' }]);
});

t.test('missing config file names the file', async (t) => {
  t.throws(() => loadConfig({ file: join(dir, 'nope.json'), env: {} }), /nope\.json: cannot read it \(ENOENT\)/);
});

t.test('bad env values are named by their key', async (t) => {
  t.throws(() => loadConfig({ env: { ROOMGATE_HTTP_PORT: 'eighty' } }), /^http\.port: must be a whole number, got string "eighty"$/);
  t.throws(() => loadConfig({ env: { ROOMGATE_HTTP_PROT: '1' } }), /ROOMGATE_HTTP_PROT: no config key 'prot'/);
});

t.test('the demo key is accepted only while every listener binds loopback', async (t) => {
  t.ok(loadConfig({ env: { ROOMGATE_HTTP_HOST: 'localhost' } }));
  t.ok(loadConfig({ env: { ROOMGATE_RTMP_HOST: '127.0.0.2' } }));
  t.throws(
    () => loadConfig({ env: { ROOMGATE_HTTP_HOST: '0.0.0.0' } }),
    /^apps\[0\]\.secretKey: the demo key is public and only allowed while every listener binds loopback, but a listener binds 0\.0\.0\.0; set your own secret key$/,
  );
  t.throws(() => loadConfig({ env: { ROOMGATE_RTMP_HOST: '192.0.2.10' } }), /demo key/);
  // An own app key but the demo API credential is still refused.
  t.throws(
    () => loadConfig({ env: { ROOMGATE_RTMP_HOST: '0.0.0.0', ROOMGATE_APPS_0_SECRETKEY: 'mine' } }),
    /^api\.credentials\[0\]\.secretKey: the demo key is public/,
  );
  const ok = loadConfig({
    env: { ROOMGATE_RTMP_HOST: '0.0.0.0', ROOMGATE_APPS_0_SECRETKEY: 'mine', ROOMGATE_API_CREDENTIALS_0_SECRETKEY: 'mine2' },
  });
  t.equal(ok.rtmp.host, '0.0.0.0');
});

t.test('roomgate serve with a bad config exits non-zero with one readable line', async (t) => {
  const bad = file('serve-bad.json', { rtmp: { port: 70000 } });
  const r = spawnSync(process.execPath, [repoPath('bin/roomgate'), 'serve', '--config', bad], { encoding: 'utf8', timeout: 20000 });
  t.equal(r.status, 2);
  t.equal(r.stderr.trim(), 'roomgate: bad config: rtmp.port: 70000 is out of range 0–65535');
  const demo = spawnSync(process.execPath, [repoPath('bin/roomgate'), 'serve'], {
    encoding: 'utf8',
    timeout: 20000,
    env: { ...process.env, ROOMGATE_HTTP_HOST: '0.0.0.0' },
  });
  t.equal(demo.status, 2);
  t.match(demo.stderr, /demo key is public/);
  t.equal(demo.stderr.trim().split('\n').length, 1);
});
