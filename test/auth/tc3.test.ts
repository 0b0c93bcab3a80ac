// TC3-HMAC-SHA256: Tencent's published worked example stage by stage, then the official Node SDK signing real
// requests against a local server that runs verifyTc3Request, then the refusals.

import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as tc from 'tencentcloud-sdk-nodejs';
import {
  sha256Hex,
  signTc3Request,
  tc3CanonicalRequest,
  tc3Date,
  tc3Signature,
  tc3StringToSign,
  verifyTc3Request,
  type Tc3Result,
} from '../../src/auth/tc3.js';

// The SDK routes through http_proxy when it is set; this test talks to 127.0.0.1 directly.
for (const name of ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY']) delete process.env[name];

t.test("Tencent's worked example, stage by stage", async (t) => {
  const body = '{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}';
  const payloadHash = sha256Hex(body);
  t.equal(payloadHash, '35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064');
  const canonical = tc3CanonicalRequest({
    method: 'POST',
    headers: [
      ['content-type', 'application/json; charset=utf-8'],
      ['host', 'cvm.tencentcloudapi.com'],
      ['x-tc-action', 'DescribeInstances'],
    ],
    payloadHash,
  });
  t.equal(
    canonical,
    'POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n' +
      'x-tc-action:describeinstances\n\ncontent-type;host;x-tc-action\n' + payloadHash,
  );
  t.equal(sha256Hex(canonical), '7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84');
  t.equal(tc3Date(1551113065), '2019-02-25');
  const stringToSign = tc3StringToSign(1551113065, '2019-02-25', 'cvm', canonical);
  t.equal(stringToSign, `TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n${sha256Hex(canonical)}`);
  const secretSigning = Buffer.from('b596b923aad85185e2d1f6659d2a062e0a86731226e021e61bfe06f7ed05f5af', 'hex');
  t.equal(tc3Signature(secretSigning, stringToSign), '10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f');
});

const SECRET_ID = 'AKIDtest';
const SECRET_KEY = 'gateway-secret-key';
const lookupSecret = (id: string) => (id === SECRET_ID ? SECRET_KEY : undefined);

t.test('official tencentcloud-sdk-nodejs client against a local verifier', async (t) => {
  let clockOffset = 0;
  let last: Tc3Result | undefined;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const [path, query = ''] = (req.url ?? '/').split('?');
      last = verifyTc3Request({
        method: req.method ?? 'POST',
        headers: req.headers,
        body: Buffer.concat(chunks),
        lookupSecret,
        now: Math.floor(Date.now() / 1000) + clockOffset,
        path,
        query,
      });
      const response = last.ok
        ? { Status: 'InProgress', RequestId: 'x' }
        : { Error: { Code: last.code, Message: last.message }, RequestId: 'x' };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ Response: response }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;

  const client = (secretId: string, secretKey: string) =>
    new tc.trtc.v20190722.Client({
      credential: { secretId, secretKey },
      region: 'ap-guangzhou',
      profile: { httpProfile: { endpoint: `127.0.0.1:${port}`, protocol: 'http://', reqTimeout: 10 } },
    });
  const call = (c: ReturnType<typeof client>) =>
    c.DescribeStreamIngest({ SdkAppId: 1400000000, TaskId: 'task-1' }).then(
      (r) => ({ ok: true as const, r }),
      (e: { code?: string; message: string }) => ({ ok: false as const, code: e.code, message: e.message }),
    );

  const good = await call(client(SECRET_ID, SECRET_KEY));
  t.same(good, { ok: true, r: { Status: 'InProgress', RequestId: 'x' } });
  t.match(last, { ok: true, secretId: SECRET_ID, service: '127' }, 'service is the first label of the endpoint');

  const wrongKey = await call(client(SECRET_ID, 'not-the-key'));
  t.match(wrongKey, { ok: false, code: 'AuthFailure.SignatureFailure', message: /could not be validated/ });

  const unknownId = await call(client('AKIDnobody', SECRET_KEY));
  t.match(unknownId, { ok: false, code: 'AuthFailure.SecretIdNotFound', message: /AKIDnobody is not found/ });

  clockOffset = 3600;
  const skewed = await call(client(SECRET_ID, SECRET_KEY));
  t.match(skewed, { ok: false, code: 'AuthFailure.SignatureExpire', message: /must be within 300 s/ });
  clockOffset = 0;

  // A body altered after signing, sent with the original signature.
  const body = JSON.stringify({ SdkAppId: 1400000000, TaskId: 'task-1' });
  const headers = signTc3Request({
    secretId: SECRET_ID,
    secretKey: SECRET_KEY,
    service: 'trtc',
    host: `127.0.0.1:${port}`,
    body,
    timestamp: Math.floor(Date.now() / 1000),
  });
  const post = (payload: string) =>
    new Promise<unknown>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: '/', headers: { ...headers, 'x-tc-action': 'DescribeStreamIngest' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  t.match(await post(body), { Response: { Status: 'InProgress' } }, 'our own signer, host signed with its port (Go SDK style)');
  t.match(last, { ok: true, service: 'trtc' });
  t.match(await post(body.replace('task-1', 'task-2')), { Response: { Error: { Code: 'AuthFailure.SignatureFailure' } } });
});

t.test('verifyTc3Request refusals', async (t) => {
  const now = 1700000000;
  const body = '{"TaskId":"t"}';
  const signed = signTc3Request({ secretId: SECRET_ID, secretKey: SECRET_KEY, service: 'trtc', host: 'api.example.com', body, timestamp: now });
  const verify = (headers: Record<string, string | undefined>, over: { body?: string; now?: number; method?: string } = {}) => {
    const r = verifyTc3Request({ method: over.method ?? 'POST', headers, body: over.body ?? body, lookupSecret, now: over.now ?? now });
    return r.ok ? 'ok' : `${r.code}: ${r.message}`;
  };
  t.equal(verify(signed), 'ok');
  t.equal(verify({ ...signed, host: 'API.Example.com ' }), 'ok', 'host value lower-cased and trimmed');
  t.equal(verify({ ...signed, host: 'api.example.com:8443' }), 'ok', 'host signed without port, sent with one (Node SDK style)');
  t.equal(verify(signed, { now: now + 300 }), 'ok', 'exactly 300 s of skew is allowed');
  t.match(verify(signed, { now: now - 301 }), /^AuthFailure\.SignatureExpire: The signature is expired: X-TC-Timestamp 1700000000 \(2023-11-14T22:13:20Z\) is 301 s from server time/);
  t.match(verify(signed, { body: body + ' ' }), /^AuthFailure\.SignatureFailure: /);
  t.match(verify(signed, { method: 'GET' }), /^AuthFailure\.SignatureFailure: /);
  t.match(verify({ ...signed, 'content-type': 'text/plain' }), /^AuthFailure\.SignatureFailure: /);
  t.match(verify({ ...signed, host: 'evil.example.com' }), /^AuthFailure\.SignatureFailure: /);
  t.equal(verify({ ...signed, authorization: undefined }), 'MissingParameter: The Authorization header is missing; sign the request with TC3-HMAC-SHA256.');
  t.match(verify({ ...signed, 'x-tc-timestamp': undefined }), /^MissingParameter: The X-TC-Timestamp header is missing/);
  t.equal(verify({ ...signed, 'x-tc-timestamp': '17e8' }), "AuthFailure.InvalidAuthorization: X-TC-Timestamp '17e8' must be Unix time in seconds.");
  t.equal(
    verify({ ...signed, 'x-tc-timestamp': String(now + 86400) }, { now: now + 86400 }),
    'AuthFailure.InvalidAuthorization: Credential date 2023-11-14 must be the UTC date of X-TC-Timestamp 1700086400, which is 2023-11-15.',
  );
  t.match(verify({ ...signed, authorization: 'HmacSHA256 Signature=abc' }), /^AuthFailure\.InvalidAuthorization: Authorization must use TC3-HMAC-SHA256 \(got 'HmacSHA256'\)/);
  const auth = signed.authorization!;
  t.equal(
    verify({ ...signed, authorization: auth.replace('SignedHeaders=content-type;host', 'SignedHeaders=content-type') }),
    "AuthFailure.InvalidAuthorization: SignedHeaders 'content-type' must include content-type and host.",
  );
  t.equal(
    verify({ ...signed, authorization: auth.replace('/trtc/tc3_request', '/trtc/tc4_request') }),
    `AuthFailure.InvalidAuthorization: Credential '${SECRET_ID}/2023-11-14/trtc/tc4_request' must be <SecretId>/<YYYY-MM-DD>/<service>/tc3_request.`,
  );
  t.equal(verify({ ...signed, authorization: auth.replace(/Signature=\w+/, 'Signature=xyz') }), 'AuthFailure.InvalidAuthorization: Signature must be 64 hexadecimal characters.');
  t.match(verify({ ...signed, authorization: auth.replace(/, Signature=\w+/, '') }), /^AuthFailure\.InvalidAuthorization: Authorization must carry Credential=/);
  t.equal(
    verify({ ...signed, authorization: auth.replace(SECRET_ID, 'AKIDother') }),
    'AuthFailure.SecretIdNotFound: The SecretId AKIDother is not found; check the SecretId the client is configured with.',
  );
  t.equal(verify({ ...signed, 'x-tc-content-sha256': 'UNSIGNED-PAYLOAD' }), 'AuthFailure.InvalidAuthorization: Unsigned payloads are not accepted; turn off UnsignedPayload in the SDK profile.');

  // An extra signed header must be present and is signed lower-cased.
  const withAction = signTc3Request({
    secretId: SECRET_ID, secretKey: SECRET_KEY, service: 'trtc', host: 'api.example.com', body, timestamp: now,
    extraSignedHeaders: { 'X-TC-Action': 'StartStreamIngest' },
  });
  t.match(withAction.authorization, /SignedHeaders=content-type;host;x-tc-action,/);
  t.equal(verify(withAction), 'ok');
  t.equal(verify({ ...withAction, 'x-tc-action': 'startstreamingest' }), 'ok', 'values compared lower-cased');
  t.match(verify({ ...withAction, 'x-tc-action': 'StopStreamIngest' }), /^AuthFailure\.SignatureFailure: /);
  t.equal(
    verify({ ...withAction, 'x-tc-action': undefined }),
    'AuthFailure.InvalidAuthorization: Signed header x-tc-action is not present in the request; send every header listed in SignedHeaders.',
  );
});
