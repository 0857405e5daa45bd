// `node bench/instructions.mjs VARIANT...`: instructions per request under valgrind's callgrind, the A/B measure
// that holds on a busy machine (a shared VM has no hardware counters for `perf stat`, and wall-clock throughput
// moves with whatever else runs). Each variant is a Portico target id (bench/lib/targets.mjs), optionally with
// another built checkout after `:` (as in ab.mjs). Per variant: start it under callgrind with instrumentation off,
// send a warm-up (JIT, pools, caches), switch instrumentation on (`callgrind_control -i on`), send `N` requests
// (one at a time unless BENCH_INSTR_CONCURRENCY says otherwise, keep-alive, the target's per-request header when it has one), switch it off, stop, and read the
// instruction total of the window (every thread: GC helpers and the thread pool's log writes count too).
// Rounds alternate the variants; the report is instructions per request, median and range.
//
// Knobs (env): BENCH_INSTR_REQUESTS (2000), BENCH_INSTR_WARMUP (4000), BENCH_INSTR_ROUNDS (2),
// BENCH_INSTR_CONCURRENCY (1), BENCH_INSTR_NODE_FLAGS (see STEADY_FLAGS), plus BENCH_REDIS_URL.
// Needs valgrind (apt-get install valgrind). Slow: about a minute per variant and round.
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { request, Agent } from 'node:http';
import { stringify } from 'yaml';
import { TARGETS } from './lib/targets.mjs';
import { machine, startSurroundings } from './lib/setup.mjs';
import { freePort, spawnPinned, stop, waitReady, which } from './lib/proc.mjs';
import { porticoConfig, PORTICO_NODE_FLAGS, REPO } from './lib/portico.mjs';
import { median } from './lib/report.mjs';

const num = (name, fallback) => (process.env[name] ? Number(process.env[name]) : fallback);
const requests = num('BENCH_INSTR_REQUESTS', 2000);
const warmup = num('BENCH_INSTR_WARMUP', 4000);
const rounds = num('BENCH_INSTR_ROUNDS', 2);
// One request at a time by default: with several in flight, how many share an event-loop turn (and so a batched
// write or a coalesced Redis command) depends on timing, which valgrind and a busy machine change from run to run.
const concurrency = num('BENCH_INSTR_CONCURRENCY', 1);
// V8 work that runs by the clock rather than by the program: the memory reducer starts full GCs when the allocation
// rate per wall-clock second looks idle (it always does under valgrind, more or less so with the machine's load), and
// background compilation and GC threads finish when the scheduler lets them. Off, the count of one build repeats;
// the same flags apply to every variant. BENCH_INSTR_NODE_FLAGS replaces them.
const STEADY_FLAGS = ['--no-memory-reducer', '--single-threaded-gc', '--no-concurrent-recompilation'];
const steadyFlags =
  process.env.BENCH_INSTR_NODE_FLAGS === undefined
    ? STEADY_FLAGS
    : process.env.BENCH_INSTR_NODE_FLAGS.split(/\s+/).filter(Boolean);

if (!which('valgrind') || !which('callgrind_control')) {
  process.stderr.write('valgrind with callgrind_control is needed (apt-get install valgrind)\n');
  process.exit(2);
}
const variants = process.argv.slice(2).map((text) => {
  const [id, checkout] = text.split(':');
  const target = TARGETS.find((t) => t.id === id && t.group === 'portico');
  if (!target) throw new Error(`unknown Portico target ${id}`);
  return { label: text, target, root: checkout ? resolve(checkout) : REPO };
});
if (variants.length === 0) {
  process.stderr.write('usage: node bench/instructions.mjs TARGET[:CHECKOUT]...\n');
  process.exit(2);
}

/** `count` GETs, `concurrency` at a time; resolves the number of non-2xx answers. */
async function drive(url, target, count) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let sent = 0;
  let bad = 0;
  const one = () =>
    new Promise((done) => {
      const headers = target.clientHeader ? { [target.clientHeader]: `${process.pid}-${Date.now()}-${sent}` } : {};
      const req = request(url, { agent, headers, timeout: 60_000 }, (res) => {
        if (res.statusCode >= 300) bad++;
        res.resume();
        res.on('end', done);
      });
      req.on('error', () => (bad++, done()));
      req.end();
    });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sent < count) {
        sent++;
        await one();
      }
    }),
  );
  agent.destroy();
  return bad;
}

function callgrindControl(args) {
  const r = spawnSync('callgrind_control', args, { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`callgrind_control ${args.join(' ')}: ${r.stderr || r.stdout}`);
}

/** Sum of the `summary:` (or `totals:`) lines of the callgrind output files of `pid`. */
function instructions(dir, pid) {
  let total = 0;
  for (const file of readdirSync(dir).filter((f) => f.startsWith(`callgrind.${pid}`))) {
    const text = readFileSync(join(dir, file), 'utf8');
    // `totals:` is what was collected; `summary:` is 0 when instrumentation started off.
    const line = /^totals:\s+(\d+)/m.exec(text);
    if (line) total += Number(line[1]);
  }
  return total;
}

async function measureOnce(variant, ctx, round) {
  const dir = join(ctx.dir, `instr-${round}-${variant.target.id}-${variants.indexOf(variant)}`);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const adminPort = await freePort();
  const own = { ...ctx, port, adminPort, dir };
  const file = join(dir, 'portico.yaml');
  writeFileSync(file, stringify(porticoConfig({ id: variant.target.id, ...variant.target.spec }, own)));
  const child = spawnPinned({
    cpu: ctx.proxyCpu,
    pinning: ctx.pinning,
    command: 'valgrind',
    args: [
      '--tool=callgrind',
      '--instr-atstart=no',
      '--smc-check=all-non-file',
      `--callgrind-out-file=${join(dir, 'callgrind.%p')}`,
      process.execPath,
      ...PORTICO_NODE_FLAGS,
      ...steadyFlags,
      join(variant.root, 'dist', 'cli.js'),
      'serve',
      '--config',
      file,
    ],
    logFile: join(dir, 'stdout.log'),
    env: { NODE_ENV: 'production' },
    cwd: variant.root,
  });
  const url = `http://127.0.0.1:${port}${variant.target.path}`;
  try {
    await waitReady(url, { child, deadlineMs: 180_000 });
    const warmBad = await drive(url, variant.target, warmup);
    callgrindControl(['-i', 'on', String(child.pid)]);
    const bad = await drive(url, variant.target, requests);
    callgrindControl(['-i', 'off', String(child.pid)]);
    await stop(child, { graceMs: 60_000 });
    const total = instructions(dir, child.pid);
    if (total === 0 || bad > 0) throw new Error(`${variant.label}: ${total} instructions, ${bad} failed requests`);
    return { perRequest: total / requests, bad: bad + warmBad };
  } finally {
    await stop(child, { graceMs: 5000 });
  }
}

const m = machine();
const { ctx, stopAll } = await startSurroundings(m);
const results = variants.map(() => []);
try {
  for (let round = 1; round <= rounds; round++) {
    for (const [i, variant] of variants.entries()) {
      const r = await measureOnce(variant, ctx, round);
      results[i].push(r.perRequest);
      process.stderr.write(
        `round ${round} ${variant.label}: ${Math.round(r.perRequest).toLocaleString('en-US')} instructions/request${r.bad ? ` (${r.bad} non-2xx or errors)` : ''}\n`,
      );
    }
  }
} finally {
  await stopAll();
}
const lines = ['| variant | instructions/request, median | range |', '|---|---:|---:|'];
const k = (x) => `${(x / 1000).toFixed(0)}k`;
for (const [i, v] of variants.entries()) {
  const rs = results[i];
  lines.push(`| ${v.label} | ${k(median(rs))} | ${k(Math.min(...rs))}-${k(Math.max(...rs))} |`);
}
process.stdout.write(
  `${lines.join('\n')}\n(${requests} requests per measurement after ${warmup} of warm-up, ${concurrency} at a time; every thread of the process)\n`,
);
