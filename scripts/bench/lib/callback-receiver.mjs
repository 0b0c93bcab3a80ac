// Takes a gateway's callbacks (401, 301, …) as a real receiver would, for a benchmark to check its task really ran.

import http from 'node:http';

/**
 * `url` to configure as the app's callbackUrl; `events(taskId)` the bodies received for that task, in order;
 * `count()` every callback received.
 */
export async function startCallbackReceiver() {
  const seen = new Map();
  let count = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      count++;
      try {
        const e = JSON.parse(body);
        const id = e?.EventInfo?.TaskId;
        if (id) seen.set(id, [...(seen.get(id) ?? []), e]);
      } catch {}
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"code":0}');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}/callback`,
    events: (taskId) => seen.get(taskId) ?? [],
    count: () => count,
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))),
  };
}
