// Async delivery rate, against the built dist/ (`npm run build` first):
//   ./node_modules/.bin/node bench/tasks.mjs
// A store is filled with TASKS stored requests before the clock starts (in process, and on Redis when
// BENCH_REDIS_URL is set), then one route's delivery loop runs them on a worker pool of POOL_MAX workers against the
// bench's fast upstream (bench/servers/upstream.mjs, in a child process so it does not share this process's loop).
// Reported: deliveries per second (from the first take to the last recorded outcome), median of rounds. The accept
// side (202s per second) is measured by `npm run bench` (targets portico-async-memory and portico-async-redis).
// Knobs (env): TASKS (20000), ROUNDS (3), POOL_MAX (32), BENCH_REDIS_URL.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { RESULTS_DIR, median } from './lib/report.mjs';

const require = createRequire(import.meta.url);
const { WorkerPool } = require('../dist/pool/pool.js');
const { DeliveryLoop } = require('../dist/tasks/runner.js');
const { MemoryTaskStore } = require('../dist/tasks/store-memory.js');
const { RedisTaskStore } = require('../dist/tasks/store-redis.js');
const { Redis } = require('ioredis');
const pino = require('pino');

const TASKS = Number(process.env.TASKS ?? 20_000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const MAX = Number(process.env.POOL_MAX ?? 32);
const REDIS_URL = process.env.BENCH_REDIS_URL;
const UPSTREAM = fileURLToPath(new URL('./servers/upstream.mjs', import.meta.url));
const ASYNC = {
  maxAttempts: 3,
  backoff: 50,
  maxBackoff: 1000,
  attemptTimeout: 5000,
  maxBodySize: 1_048_576,
  retention: 600_000,
  claimIdle: 60_000,
  queue: TASKS,
  keyPrefix: 'portico-bench:tasks:',
};

function task() {
  const id = randomUUID();
  return {
    id,
    method: 'POST',
    path: '/api/bench',
    headers: { 'content-type': 'application/json' },
    body: Buffer.from('{"n":1}'),
    requestId: id,
    traceparent: '',
    key: id,
    clientKey: '',
    createdAt: Date.now(),
  };
}

async function round(makeStore, upstreamUrl) {
  const { store, close } = await makeStore();
  for (let i = 0; i < TASKS; i++) await store.accept(task());
  const pool = new WorkerPool({ min: 2, max: MAX, queue: 1000, idleTimeout: 30_000, taskTimeout: 10_000 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: MAX });
  let done = 0;
  let finished;
  const all = new Promise((resolve) => (finished = resolve));
  const loop = new DeliveryLoop({
    store,
    settings: () => ({ route: 'bench', async: ASYNC, upstreams: [new URL(upstreamUrl)] }),
    pool,
    agentFor: () => agent,
    concurrency: MAX,
    logger: pino({ level: 'silent' }),
    onOutcome: (_route, outcome) => {
      if (outcome === 'succeeded' && ++done === TASKS) finished();
    },
  });
  const began = performance.now();
  loop.start();
  await all;
  const seconds = (performance.now() - began) / 1000;
  await loop.stop(performance.now() + 1000, false);
  await pool.shutdown(1000);
  agent.destroy();
  await close();
  return TASKS / seconds;
}

const port = 20_000 + Math.floor(Math.random() * 20_000);
const upstream = fork(UPSTREAM, [String(port)], { stdio: 'ignore' });
await new Promise((resolve) => setTimeout(resolve, 300));
const upstreamUrl = `http://127.0.0.1:${port}`;
const backends = [
  [
    'in process',
    async () => ({
      store: new MemoryTaskStore({ route: 'bench', queue: TASKS, retention: 600_000 }),
      close: async () => {},
    }),
  ],
];
if (REDIS_URL)
  backends.push([
    'redis streams',
    async () => {
      const client = new Redis(REDIS_URL);
      const reader = new Redis(REDIS_URL);
      const route = `bench-${randomUUID().slice(0, 8)}`;
      const store = new RedisTaskStore({ ...ASYNC, route, promoteEvery: 25, client, reader });
      return {
        store,
        close: async () => {
          const keys = await client.keys(`${ASYNC.keyPrefix}{${route}}:*`);
          for (let i = 0; i < keys.length; i += 500) await client.del(...keys.slice(i, i + 500));
          client.disconnect();
          reader.disconnect();
        },
      };
    },
  ]);
const rows = [];
try {
  for (const [name, makeStore] of backends) {
    await round(makeStore, upstreamUrl); // warm-up
    const rates = [];
    for (let i = 0; i < ROUNDS; i++) rates.push(await round(makeStore, upstreamUrl));
    rows.push({ name, deliveriesPerSec: median(rates), rounds: rates });
  }
} finally {
  upstream.kill('SIGTERM');
  await once(upstream, 'exit');
}
console.log(`Async delivery bench: ${TASKS} tasks per round, ${MAX} workers, median of ${ROUNDS} rounds`);
console.log('\n| store | deliveries/s |\n|---|---:|');
for (const r of rows) console.log(`| ${r.name} | ${Math.round(r.deliveriesPerSec).toLocaleString('en-US')} |`);
mkdirSync(RESULTS_DIR, { recursive: true });
const file = join(RESULTS_DIR, 'tasks.json');
writeFileSync(file, JSON.stringify({ tasks: TASKS, workers: MAX, rows }, null, 2));
console.log(`\nJSON: ${file}`);
