// The official Tencent Cloud Node SDK pointed at a test gateway, exactly as a backend team would configure it.

import * as tc from 'tencentcloud-sdk-nodejs';

// The SDK routes through http_proxy when it is set; the tests talk to 127.0.0.1 directly.
for (const name of ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY']) delete process.env[name];

export const TEST_CREDENTIAL = { secretId: 'AKIDroomgatetest', secretKey: 'roomgate-test-api-secret-5e6f7a8b' };

export type TrtcClient = InstanceType<typeof tc.trtc.v20190722.Client>;

/** `endpoint` is host:port of the gateway's HTTP listener. */
export function trtcClient(endpoint: string, credential = TEST_CREDENTIAL): TrtcClient {
  return new tc.trtc.v20190722.Client({
    credential,
    region: 'ap-guangzhou',
    profile: { httpProfile: { endpoint, protocol: 'http://', reqTimeout: 10 } },
  });
}

/** The SDK's exception for an Error envelope: code, message and requestId. */
export async function apiError(p: Promise<unknown>): Promise<{ code: string; message: string; requestId: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as { code?: string; message?: string; requestId?: string };
    return { code: err.code ?? '(no code)', message: err.message ?? '', requestId: err.requestId ?? '' };
  }
  throw new Error('expected the call to fail');
}
