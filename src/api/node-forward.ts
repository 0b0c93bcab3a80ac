// Many nodes, one address: a WHEP or WHIP request may reach any node (a load balancer picks one), but the media and
// the session live on one node. Before the WHEP/WHIP routes run, this hook sends the request on to the node that
// owns what it names, over that node's internal HTTP address from the registry, and hands back that node's answer
// untouched (its SDP carries its own ICE candidates, so the client's media goes straight to the owner):
// - POST /v2/sub/… (WHEP play) when the publisher is on another node;
// - GET/PATCH/DELETE /v2/whep/<id> and /v2/whip/<id> when another node created that resource.
// Each node files the resources it answers with 201 (Location) so any node can find their owner. A forwarded
// request carries `x-roomgate-forwarded-by` and is never forwarded again, so a stale record cannot make a loop.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../log.js';
import { refuse, withCors } from './cors.js';

export interface NodeLocator {
  nodeId: string;
  /** The node holding the room's publisher (`userId`, or any), when it is not this one; null when none is known. */
  whepOwner(sdkAppId: number, roomId: string, userId: string | undefined): Promise<string | null>;
  /** The node that created a WHEP/WHIP resource, or null. */
  resourceOwner(id: string): Promise<string | null>;
  /** Files a resource this node created. */
  remember(id: string): Promise<void>;
  /** A live node's internal HTTP base URL, or null when it has no lease. */
  nodeUrl(nodeId: string): Promise<string | null>;
}

const FORWARDED = 'x-roomgate-forwarded-by';
const PASS_REQUEST = ['content-type', 'authorization', 'if-match'];
const PASS_RESPONSE = ['content-type', 'location', 'etag', 'accept-patch', 'link', 'retry-after'];
const RESOURCE = /^\/v2\/(whep|whip)\/([^/?]+)/;
const WHEP_POST = /^\/v2\/sub\/(\d+)\/([^/?]+)/;

export function registerNodeForward(app: FastifyInstance, locator: NodeLocator, log: Logger): void {
  /** Requests answered by another node: their 201 is that node's resource, not this one's. */
  const forwarded = new WeakSet<FastifyRequest>();
  app.addHook('preHandler', async (req, reply) => {
    if (req.headers[FORWARDED] || req.method === 'OPTIONS') return;
    const owner = await ownerOf(req, locator).catch((err: unknown) => {
      log.warn({ err: String(err), url: req.url }, 'node lookup failed: answering here');
      return null;
    });
    if (!owner || owner === locator.nodeId) return;
    forwarded.add(req);
    return forward(req, reply, owner, locator, log);
  });

  // every WHEP/WHIP resource answered here is filed under this node
  app.addHook('onSend', async (req, reply, payload) => {
    if (reply.statusCode !== 201 || req.method !== 'POST' || forwarded.has(req)) return payload;
    const m = RESOURCE.exec(String(reply.getHeader('location') ?? ''));
    if (m) await locator.remember(m[2]).catch((err: unknown) => log.warn({ err: String(err), id: m[2] }, 'resource not filed: other nodes cannot reach it'));
    return payload;
  });
}

async function ownerOf(req: FastifyRequest, locator: NodeLocator): Promise<string | null> {
  const path = req.url;
  const resource = RESOURCE.exec(path);
  if (resource && req.method !== 'POST') return locator.resourceOwner(resource[2]);
  const play = req.method === 'POST' ? WHEP_POST.exec(path) : null;
  if (!play) return null;
  const publisher = (req.query as { Publisher?: string }).Publisher;
  return locator.whepOwner(Number(play[1]), decodeURIComponent(play[2]), publisher || undefined);
}

async function forward(req: FastifyRequest, reply: FastifyReply, owner: string, locator: NodeLocator, log: Logger): Promise<FastifyReply> {
  const base = await locator.nodeUrl(owner);
  if (!base) return refuse(reply, 503, `the session's node ${owner} is not reachable (no lease): retry in a few seconds`);
  const headers: Record<string, string> = { [FORWARDED]: locator.nodeId };
  for (const h of PASS_REQUEST) {
    const v = req.headers[h];
    if (typeof v === 'string') headers[h] = v;
  }
  let res: Response;
  try {
    res = await fetch(base + req.url, {
      method: req.method,
      headers,
      ...(typeof req.body === 'string' ? { body: req.body } : {}),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    log.warn({ err: String(err), owner, url: req.url }, 'forwarding to the owner node failed');
    return refuse(reply, 502, `the session's node ${owner} did not answer: retry`);
  }
  withCors(reply).code(res.status);
  for (const h of PASS_RESPONSE) {
    const v = res.headers.get(h);
    if (v !== null) reply.header(h, v);
  }
  log.debug({ owner, url: req.url, status: res.status }, 'forwarded to the owner node');
  return reply.send(Buffer.from(await res.arrayBuffer()));
}
