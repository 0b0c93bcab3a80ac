// One gateway process of a test cluster: the test app with its callbacks to the test's receiver, the Redis store under
// the test's own key prefix, a node id and a short lease. The process is killed when the test ends, and a failing test
// prints what the node logged (warnings and errors, or the lines `logged` picks).

import type { Test } from 'tap';
import { TEST_APP } from './gateway.js';
import { CALLBACK_KEY } from './pull-fixture.js';
import { spawnGateway, type GatewayProcess } from './gateway-process.js';

export interface ClusterNodeOptions {
  id: string;
  redisUrl: string;
  /** store.redisPrefix: each test file its own, so files never read each other's state. */
  prefix: string;
  /** The callback receiver's URL (signed with CALLBACK_KEY). */
  callbackUrl: string;
  leaseMs: number;
  /** More config, beside apps, store and node. */
  config?: Record<string, unknown>;
  /** Which log lines a failing test prints; default: warnings and worse. */
  logged?: (line: Record<string, any>) => boolean;
}

export async function clusterNode(t: Test, o: ClusterNodeOptions): Promise<GatewayProcess> {
  const gw = await spawnGateway({
    apps: [{ ...TEST_APP, callbackUrl: o.callbackUrl, callbackKey: CALLBACK_KEY }],
    store: { kind: 'redis', redisUrl: o.redisUrl, redisPrefix: o.prefix },
    node: { id: o.id, leaseMs: o.leaseMs },
    ...o.config,
  });
  const logged = o.logged ?? ((l) => l.level >= 40);
  t.teardown(() => {
    gw.kill('SIGKILL');
    if (!t.passing()) t.comment(`${o.id}:\n` + gw.logs.filter(logged).map((l) => JSON.stringify(l)).join('\n'));
  });
  return gw;
}
