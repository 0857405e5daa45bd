// `node bench/soak.mjs`: the full chain (logging + tracing at 100% + rate limit on Redis, never hit) at a fixed
// rate for 60 s. Reports RSS, heap and event-loop delay over the first and the last 10 s, and the process's open
// sockets before the load and after it (settled), so growth shows. RSS and sockets come from /proc; the event-loop
// delay from bench/lib/probe.cjs preloaded into the process (monitorEventLoopDelay, one line a second).
// Knobs: BENCH_SOAK_DURATION (s, 60), BENCH_SOAK_RATE (req/s, 500), BENCH_SOAK_CONNECTIONS (16), BENCH_SOAK_TARGET.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TARGETS } from './lib/targets.mjs';
import { machine, loadPin, pinningText, startSurroundings, warnIfNotPinnedNode } from './lib/setup.mjs';
import { launchTarget, unavailableReason } from './lib/launch.mjs';
import { measure } from './lib/load.mjs';
import { cpuBusyMicros, cpuMicros, openSockets, rssBytes, stop } from './lib/proc.mjs';
import { RESULTS_DIR, median } from './lib/report.mjs';

const PROBE = fileURLToPath(new URL('./lib/probe.cjs', import.meta.url));
const seconds = Number(process.env.BENCH_SOAK_DURATION ?? 60);
const rate = Number(process.env.BENCH_SOAK_RATE ?? 500);
const connections = Number(process.env.BENCH_SOAK_CONNECTIONS ?? 16);
const targetId = process.env.BENCH_SOAK_TARGET ?? 'portico-full';
const window = Math.min(10, Math.max(1, Math.floor(seconds / 3)));
const log = (line) => process.stderr.write(`[soak] ${line}\n`);

const m = machine();
const warning = warnIfNotPinnedNode();
if (warning) log(`WARNING: ${warning}`);
log(
  `${targetId}, ${rate} req/s over ${connections} connections for ${seconds}s (autocannon, fixed rate); ${pinningText(m)}`,
);

const { ctx, stopAll } = await startSurroundings(m);
const target = TARGETS.find((t) => t.id === targetId);
const reason = target ? unavailableReason(target, ctx) : `unknown target ${targetId}`;
if (reason) {
  await stopAll();
  log(`unavailable: ${reason}`);
  process.exit(1);
}

const probeFile = join(ctx.dir, 'probe.jsonl');
let result;
try {
  const entry = await launchTarget(target, ctx, {
    nodeFlags: ['--require', PROBE],
    env: { BENCH_PROBE_FILE: probeFile },
  });
  const pid = entry.child.pid;
  const socketsBefore = openSockets(pid);
  const rssBefore = rssBytes(pid) / 2 ** 20;
  const began = Date.now();
  const kernel = [];
  const sampler = setInterval(
    () => kernel.push({ t: Date.now(), coreUs: cpuBusyMicros(m.proxyCpu) ?? NaN, cpuUs: cpuMicros(pid) }),
    1000,
  );
  const load = await measure({ name: 'autocannon' }, { url: entry.url, connections, seconds, pin: loadPin(m), rate });
  const ended = Date.now();
  clearInterval(sampler);
  const socketsAtEnd = openSockets(pid);
  const settled = await settledSockets(pid, socketsBefore);
  const socketsAfter = settled.count;
  const socketPeers = peersOf(pid, entry);
  const samples = readProbe(probeFile);
  const first = samples.filter((s) => s.t > began && s.t <= began + window * 1000);
  const last = samples.filter((s) => s.t > ended - window * 1000 && s.t <= ended);
  result = {
    target: targetId,
    rate,
    seconds,
    achievedRps: Number(load.rps.toFixed(0)),
    p50Ms: load.p50Ms,
    p99Ms: load.p99Ms,
    errors: load.errors + load.non2xx,
    rssMbIdle: Number(rssBefore.toFixed(1)),
    start: { ...windowStats(first), ...kernelStats(kernel, began, began + window * 1000) },
    end: { ...windowStats(last), ...kernelStats(kernel, ended - window * 1000, ended) },
    socketsBefore,
    socketsAtEnd,
    socketsAfter,
    socketsAfterS: settled.afterS,
    socketPeers,
    handlesAfter: samples.at(-1)?.handles,
    samples: samples.map(({ t, rssMb, heapUsedMb, eldP99Ms }) => ({
      s: Math.round((t - began) / 1000),
      rssMb,
      heapUsedMb,
      eldP99Ms,
    })),
  };
  await stop(entry.child);
} finally {
  await stopAll();
}

mkdirSync(RESULTS_DIR, { recursive: true });
const file = join(RESULTS_DIR, `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ machine: m, pinning: pinningText(m), ...result }, null, 2) + '\n');
const row = (name, s) =>
  `  ${name.padEnd(14)} RSS ${s.rssMb} MB, heap ${s.heapUsedMb} MB, event-loop delay p50 ${s.eldP50Ms} ms, p99 ${s.eldP99Ms} ms, max ${s.eldMaxMs} ms; ` +
  `CPU ${s.busyPct}%, other processes on its core ${s.othersPct}%`;
process.stdout.write(
  [
    `soak ${targetId}: ${result.achievedRps} req/s achieved of ${rate} asked, ${seconds}s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, ${result.errors} errors/non-2xx`,
    row(`first ${window}s`, result.start),
    row(`last ${window}s`, result.end),
    `  RSS growth     ${(result.end.rssMb - result.start.rssMb).toFixed(1)} MB (idle before load: ${result.rssMbIdle} MB)`,
    `  open sockets   ${result.socketsBefore} before load, ${result.socketsAtEnd} as it ended, ${result.socketsAfter} ${result.socketsAfterS}s later${result.socketPeers ? ` (${result.socketPeers})` : ''}`,
    `JSON: ${file}`,
  ].join('\n') + '\n',
);

/** The settled TCP sockets of `pid` by what they connect to (from `ss`, when installed): `upstream 2, redis 2, ...`. */
function peersOf(pid, entry) {
  const ss = spawnSync('ss', ['-tanpH'], { encoding: 'utf8' });
  if (ss.status !== 0) return undefined;
  const names = new Map([
    [String(ctx.upstreamPort), 'upstream'],
    [ctx.redisUrl ? new URL(ctx.redisUrl).port : '', 'redis'],
    [new URL(ctx.sinkUrl).port, 'otlp sink'],
    [new URL(entry.url).port, 'client'],
  ]);
  const counts = {};
  for (const line of ss.stdout.split('\n')) {
    if (!line.includes(`pid=${pid},`)) continue;
    const [state, , , local, peer] = line.trim().split(/\s+/);
    const name = state === 'LISTEN' ? 'listening' : (names.get(peer.split(':').pop()) ?? `other (${local} -> ${peer})`);
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return Object.entries(counts)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
}

function readProbe(path) {
  try {
    return readFileSync(path, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  } catch {
    return [];
  }
}

/** Over [from, to]: the process's CPU use, and what other processes used of its core, as % of wall time. */
function kernelStats(samples, from, to) {
  const inside = samples.filter((s) => s.t >= from && s.t <= to);
  if (inside.length < 2) return {};
  const [a, b] = [inside[0], inside[inside.length - 1]];
  const wallUs = (b.t - a.t) * 1000;
  const own = b.cpuUs - a.cpuUs;
  return {
    busyPct: Math.round((100 * own) / wallUs),
    othersPct: Math.max(0, Math.round((100 * (b.coreUs - a.coreUs - own)) / wallUs)),
  };
}

/** Medians of the window's per-second samples (max for the max). */
function windowStats(samples) {
  if (samples.length === 0) return { rssMb: NaN, heapUsedMb: NaN, eldP50Ms: NaN, eldP99Ms: NaN, eldMaxMs: NaN };
  const med = (key) => Number(median(samples.map((s) => s[key])).toFixed(2));
  return {
    samples: samples.length,
    rssMb: med('rssMb'),
    heapUsedMb: med('heapUsedMb'),
    eldP50Ms: med('eldP50Ms'),
    eldP99Ms: med('eldP99Ms'),
    eldMaxMs: Math.max(...samples.map((s) => s.eldMaxMs)),
  };
}

/**
 * Open sockets after the load: polled every 500 ms until back to the count before the load (`target`), or 20 s.
 * Idle upstream keep-alive sockets close on server.upstreamIdleTimeout (4 s by default). Resolves the final count
 * and how long it took.
 */
async function settledSockets(pid, target) {
  const began = Date.now();
  let now = openSockets(pid);
  while (now > target && Date.now() - began < 20_000) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    now = openSockets(pid);
  }
  return { count: now, afterS: Number(((Date.now() - began) / 1000).toFixed(1)) };
}
