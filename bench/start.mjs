// `node bench/start.mjs` (or `npm run bench:start`): the default start as a new user meets it. Runs what `npm start`
// runs (Portico's Node flags, dist/cli.js serve on the shipped config/portico.yaml with its demo upstream), on free
// loopback ports, and reports per start: the time from spawn until the admin /readyz answers 200, the RSS once idle,
// the time of the first user lookup (the embedded database opens then, or is already open), and, for the last start,
// RSS during and after `BENCH_START_LOOKUP_S` seconds of user lookups (ids 1..200: hits, misses, cache and database)
// at `BENCH_START_RATE` per second. The shipped config limits lookups to 100 a minute per client address, so the
// lookups come from 250 loopback addresses (127.0.0.2-251) in turn: the 200s and 404s of real lookups, not 429s.
//
// Knobs (env): BENCH_START_RUNS (5), BENCH_START_LOOKUP_S (60), BENCH_START_RATE (200),
// BENCH_START_IDLE_MS (2000, the wait before "idle RSS"), BENCH_PORTICO_NODE_FLAGS (as for npm run bench),
// BENCH_KEEP_TMP=1 (keep the logs).
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { freePort, get, rssBytes, spawnPinned, stop } from './lib/proc.mjs';
import { REPO, CLI, PORTICO_NODE_FLAGS, porticoUnavailable } from './lib/portico.mjs';
import { median } from './lib/report.mjs';
import { warnIfNotPinnedNode } from './lib/setup.mjs';

const num = (name, fallback) => (process.env[name] ? Number(process.env[name]) : fallback);
const runs = num('BENCH_START_RUNS', 5);
const lookupS = num('BENCH_START_LOOKUP_S', 60);
const rate = num('BENCH_START_RATE', 200);
const idleMs = num('BENCH_START_IDLE_MS', 2000);
const flags =
  process.env.BENCH_PORTICO_NODE_FLAGS === undefined
    ? PORTICO_NODE_FLAGS
    : process.env.BENCH_PORTICO_NODE_FLAGS.split(/\s+/).filter(Boolean);
const mb = (bytes) => (bytes / 2 ** 20).toFixed(0);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const missing = porticoUnavailable();
if (missing) {
  process.stderr.write(`${missing}\n`);
  process.exit(2);
}
const warning = warnIfNotPinnedNode();
if (warning) process.stderr.write(`WARNING: ${warning}\n`);
const dir = mkdtempSync(join(tmpdir(), 'portico-start-'));

async function pollReady(url, child, deadlineMs = 60_000) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (child.exitInfo) throw new Error(`exited (code ${child.exitInfo.code}) before ready`);
    const r = await get(url, { timeoutMs: 1000 }).catch(() => undefined);
    if (r?.status === 200) return;
    await sleep(5);
  }
  throw new Error('not ready within 60 s');
}

/** One lookup from `localAddress` on a connection of its own; resolves the status (0 on a socket error). */
function lookup(base, id, localAddress = '127.0.0.1') {
  return new Promise((resolve) => {
    const req = request(`${base}/users/${id}`, { agent: false, localAddress, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

async function start(index, withLookups) {
  const [port, admin, demo] = [await freePort(), await freePort(), await freePort()];
  const began = process.hrtime.bigint();
  const child = spawnPinned({
    command: process.execPath,
    args: [
      ...flags,
      CLI,
      'serve',
      '--config',
      join(REPO, 'config', 'portico.yaml'),
      '--demo-upstream',
      `127.0.0.1:${demo}`,
    ],
    env: {
      PORTICO_LISTEN: `127.0.0.1:${port}`,
      PORTICO_ADMIN: `127.0.0.1:${admin}`,
      UPSTREAM_URL: `http://127.0.0.1:${demo}`,
    },
    logFile: join(dir, `start-${index}.log`),
    cwd: REPO,
  });
  const ms = () => Number(process.hrtime.bigint() - began) / 1e6;
  try {
    await pollReady(`http://127.0.0.1:${admin}/readyz`, child);
    const readyMs = ms();
    const readyRss = rssBytes(child.pid);
    await sleep(idleMs);
    const idleRss = rssBytes(child.pid);
    const base = `http://127.0.0.1:${port}`;
    const firstAt = process.hrtime.bigint();
    const firstStatus = await lookup(base, 1);
    const firstLookupMs = Number(process.hrtime.bigint() - firstAt) / 1e6;
    const result = { readyMs, readyRss, idleRss, firstLookupMs, firstStatus, afterFirstRss: rssBytes(child.pid) };
    if (withLookups && lookupS > 0) {
      const statuses = {};
      let peak = 0;
      let sent = 0;
      const inFlight = new Set();
      const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(child.pid))), 250);
      const began = Date.now();
      // Paced: every 10 ms, the requests due by then (a slow answer does not slow the pace; in flight is capped).
      while (Date.now() - began < lookupS * 1000) {
        const due = Math.floor(((Date.now() - began) / 1000) * rate);
        while (sent < due && inFlight.size < 256) {
          const address = `127.0.0.${2 + (sent % 250)}`;
          const pending = lookup(base, 1 + Math.floor(Math.random() * 200), address).then((status) => {
            statuses[status] = (statuses[status] ?? 0) + 1;
            inFlight.delete(pending);
          });
          inFlight.add(pending);
          sent++;
        }
        await sleep(10);
      }
      await Promise.all(inFlight);
      clearInterval(sampler);
      Object.assign(result, { lookups: sent, statuses, peakRss: peak, endRss: rssBytes(child.pid) });
    }
    return result;
  } finally {
    await stop(child, { graceMs: 5000 });
  }
}

const results = [];
for (let i = 0; i < runs; i++) {
  const r = await start(i, i === runs - 1).catch((err) => {
    process.stderr.write(`start ${i + 1}/${runs} failed: ${err.message} (logs in ${dir})\n`);
    process.exit(1);
  });
  results.push(r);
  process.stderr.write(
    `start ${i + 1}/${runs}: ready ${r.readyMs.toFixed(0)} ms, RSS ${mb(r.readyRss)} MB at ready, ${mb(r.idleRss)} MB idle; ` +
      `first lookup ${r.firstLookupMs.toFixed(0)} ms (status ${r.firstStatus}), RSS after it ${mb(r.afterFirstRss)} MB\n`,
  );
}
const last = results[results.length - 1];
const lines = [
  `default start (npm start: ${flags.join(' ') || 'no Node flags'}, config/portico.yaml), ${runs} starts:`,
  `  ready (admin /readyz 200) median ${median(results.map((r) => r.readyMs)).toFixed(0)} ms, range ${Math.min(...results.map((r) => r.readyMs)).toFixed(0)}-${Math.max(...results.map((r) => r.readyMs)).toFixed(0)} ms   target < 1500 ms on an idle machine`,
  `  RSS idle median ${mb(median(results.map((r) => r.idleRss)))} MB   target < 150 MB`,
  `  first user lookup median ${median(results.map((r) => r.firstLookupMs)).toFixed(0)} ms; RSS after it median ${mb(median(results.map((r) => r.afterFirstRss)))} MB`,
];
if (last.lookups !== undefined) {
  lines.push(
    `  after ${lookupS} s of user lookups (${last.lookups} requests at ${rate}/s, statuses ${JSON.stringify(last.statuses)}): ` +
      `peak RSS ${mb(last.peakRss)} MB, at the end ${mb(last.endRss)} MB   target < 200 MB`,
  );
}
process.stdout.write(lines.join('\n') + '\n');
if (process.env.BENCH_KEEP_TMP !== '1') rmSync(dir, { recursive: true, force: true });
