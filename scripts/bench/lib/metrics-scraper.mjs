#!/usr/bin/env node
// Scrapes a URL as Prometheus would, from its own process (so the client's work is not counted as the gateway's, on
// its event loop or in its CPU), and prints one JSON line: each scrape's time in ms, request to last byte.
//
//   node scripts/bench/lib/metrics-scraper.mjs --url http://127.0.0.1:PORT/metrics [--count 200] [--every 0]
//
// --every 0 scrapes back to back; --every MS starts one every MS milliseconds (as Prometheus's scrape_interval).

import { parseArgsOrUsage } from '../../lib/usage.mjs';

const { values } = parseArgsOrUsage(import.meta.url, {
  options: {
    url: { type: 'string' },
    count: { type: 'string', default: '200' },
    every: { type: 'string', default: '0' },
  },
});
if (!values.url) {
  console.error('metrics-scraper: --url is required (the /metrics URL to scrape)');
  process.exit(2);
}
const count = Number(values.count);
const every = Number(values.every);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const times = [];
let bytes = 0;
for (let i = 0; i < count; i++) {
  const t0 = performance.now();
  const res = await fetch(values.url);
  const text = await res.text();
  const ms = performance.now() - t0;
  if (res.status !== 200) {
    console.error(`metrics-scraper: GET ${values.url} answered ${res.status}`);
    process.exit(1);
  }
  times.push(ms);
  bytes = text.length;
  if (every > 0) await sleep(Math.max(0, every - ms));
}
console.log(JSON.stringify({ times, bytes }));
