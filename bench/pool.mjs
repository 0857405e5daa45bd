// Worker pool cost, against the built dist/ (`npm run build` first):
//   ./node_modules/.bin/node bench/pool.mjs
// 1. Overhead per task: 100k no-op tasks submitted at once, pool (with and without per-task timeout) against the
//    same tasks called directly and through a bare counting semaphore (the least a concurrency limit can cost).
//    Overhead = (pool time - direct time) / tasks.
// 2. Throughput at max workers: a closed loop keeps max + queue tasks submitted; each task yields once to the
//    event loop (setImmediate) like a tiny I/O wait. Reported as tasks/s.
// Median of rounds after a warm-up; table on stdout, JSON in bench/results/pool.json.
// Knobs (env): POOL_TASKS (100000), POOL_ROUNDS (7), POOL_MAX (32, the workerPool.max default).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import os from 'node:os';
import { RESULTS_DIR, median } from './lib/report.mjs';

const require = createRequire(import.meta.url);
const { WorkerPool } = require('../dist/pool/pool.js');

const TASKS = Number(process.env.POOL_TASKS ?? 100_000);
const ROUNDS = Number(process.env.POOL_ROUNDS ?? 7);
const MAX = Number(process.env.POOL_MAX ?? 32);
const noop = async () => {};
const tick = () => new Promise((resolve) => setImmediate(resolve));

const poolOf = (overrides = {}) =>
  new WorkerPool({
    min: 2,
    max: MAX,
    queue: TASKS,
    idleTimeout: 30_000,
    taskTimeout: 10_000,
    ...overrides,
  });

/** The least a concurrency limit can cost: a counter and a FIFO of waiters, no timeout, no signal, no stats. */
function semaphore(limit) {
  let active = 0;
  const waiting = [];
  let head = 0;
  const release = () => {
    active--;
    if (head < waiting.length) {
      active++;
      const next = waiting[head];
      waiting[head++] = undefined;
      next();
    }
  };
  return (task) =>
    new Promise((resolve, reject) => {
      const run = () =>
        task().then(
          (v) => (release(), resolve(v)),
          (e) => (release(), reject(e)),
        );
      if (active < limit) {
        active++;
        run();
      } else waiting.push(run);
    });
}

async function timeBatch(submit) {
  const started = process.hrtime.bigint();
  const all = new Array(TASKS);
  for (let i = 0; i < TASKS; i++) all[i] = submit(noop);
  await Promise.all(all);
  return Number(process.hrtime.bigint() - started) / 1e6; // ms
}

const overheadCases = {
  direct: () => (task) => task(new AbortController().signal),
  semaphore: () => semaphore(MAX),
  pool: () => {
    const p = poolOf();
    return (task) => p.submit(task);
  },
  'pool, no timeout': () => {
    const p = poolOf();
    return (task) => p.submit(task, { timeout: Infinity });
  },
};

async function throughput(label, makeSubmit, inFlight) {
  const submit = makeSubmit();
  const started = process.hrtime.bigint();
  let done = 0;
  let issued = 0;
  await new Promise((resolve, reject) => {
    const next = () => {
      if (issued === TASKS) {
        if (done === TASKS) resolve();
        return;
      }
      issued++;
      submit(tick).then(() => {
        done++;
        next();
      }, reject);
    };
    for (let i = 0; i < inFlight; i++) next();
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  return { label, tasksPerSec: TASKS / (ms / 1000) };
}

async function main() {
  const rows = {};
  for (let round = 0; round <= ROUNDS; round++) {
    for (const [name, make] of Object.entries(overheadCases)) {
      const ms = await timeBatch(make());
      if (round > 0) (rows[name] ??= []).push(ms); // round 0 is the warm-up
      globalThis.gc?.();
    }
  }
  const directMs = median(rows.direct);
  const overhead = Object.entries(rows).map(([name, samples]) => {
    const ms = median(samples);
    return {
      name,
      msPer100k: ms * (100_000 / TASKS),
      usPerTask: (ms * 1000) / TASKS,
      overheadUsPerTask: ((ms - directMs) * 1000) / TASKS,
    };
  });

  const tput = {};
  const closedLoop = {
    // The pool with its queue kept full; the semaphore with as many tasks outstanding.
    pool: () => {
      const p = poolOf({ queue: 1000 });
      return (task) => p.submit(task);
    },
    semaphore: () => semaphore(MAX),
    'direct (unbounded)': () => (task) => task(),
  };
  for (let round = 0; round <= ROUNDS; round++) {
    for (const [name, make] of Object.entries(closedLoop)) {
      const result = await throughput(name, make, MAX + 1000);
      if (round > 0) (tput[name] ??= []).push(result.tasksPerSec);
    }
  }
  const throughputRows = Object.entries(tput).map(([name, samples]) => ({ name, tasksPerSec: median(samples) }));

  const machine = `${os.cpus()[0]?.model ?? 'cpu'}, ${os.cpus().length} cores, Node ${process.version}, load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
  console.log(`Worker pool bench: ${machine}; ${TASKS} tasks, max ${MAX} workers, median of ${ROUNDS} rounds`);
  console.log('\n| no-op tasks, submitted at once | ms per 100k | us per task | overhead us/task vs direct |');
  console.log('|---|---:|---:|---:|');
  for (const r of overhead)
    console.log(
      `| ${r.name} | ${r.msPer100k.toFixed(1)} | ${r.usPerTask.toFixed(3)} | ${r.overheadUsPerTask.toFixed(3)} |`,
    );
  console.log(`\n| closed loop, ${MAX} workers + 1000 queued, task = one setImmediate | tasks/s |`);
  console.log('|---|---:|');
  for (const r of throughputRows) console.log(`| ${r.name} | ${Math.round(r.tasksPerSec).toLocaleString('en-US')} |`);

  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, 'pool.json');
  writeFileSync(
    file,
    JSON.stringify(
      {
        machine,
        tasks: TASKS,
        max: MAX,
        rounds: ROUNDS,
        overhead,
        throughput: throughputRows,
        samples: { overhead: rows, throughput: tput },
      },
      null,
      2,
    ),
  );
  console.log(`\nJSON: ${file}`);
}

await main();
