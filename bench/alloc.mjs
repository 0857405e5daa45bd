// `node bench/alloc.mjs [target[:checkout] ...]`: what each target allocates and which of its threads burn the proxy core, per
// request, under the bench's load. Both figures hardly move with the machine's speed, unlike req/s: bytes allocated
// per request are the program's, and the V8 worker threads' CPU (parallel scavenges, concurrent marking) is work
// that shares the pinned core with the main thread without showing in a --cpu-prof profile.
// Per target: CPU per request of each kind of thread (/proc/PID/task/TID/stat) over one window, then, over a second
// window, bytes allocated per request (V8's sampling heap profiler, freed objects included: bench/lib/heap-sampler.cjs;
// the sampler slows the process, so the CPU window runs without it) by package and by allocating function. A target
// may name another built checkout after `:`, as in bench/ab.mjs (`portico-full:../portico-before`).
// Knobs: BENCH_ALLOC_DURATION (s, 8), BENCH_CONNECTIONS (32), plus those of setup (BENCH_PIN, BENCH_REDIS_URL).
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { targetById } from './lib/targets.mjs';
import { startSurroundings, toolSetup } from './lib/setup.mjs';
import { launchTarget, unavailableReason } from './lib/launch.mjs';
import { measureTarget } from './lib/measure.mjs';
import { stop } from './lib/proc.mjs';
import { RESULTS_DIR } from './lib/report.mjs';
import { packageOf } from './lib/cpuprofile.mjs';

const SAMPLER = fileURLToPath(new URL('./lib/heap-sampler.cjs', import.meta.url));
const ids = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['engine', 'portico', 'portico-full'];
const seconds = Number(process.env.BENCH_ALLOC_DURATION ?? 8);
const { m, generator, pin, connections } = toolSetup(
  'alloc.mjs',
  `allocations of ${ids.join(', ')}, ${seconds}s windows`,
);

/** CPU ms of each thread of `pid`, by `name#tid`. */
function threadCpu(pid) {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(`${name}#${tid}`, ((Number(fields[11]) + Number(fields[12])) * 1000) / 100); // utime + stime, 100 Hz ticks
    } catch {
      // the thread ended between listing and reading
    }
  }
  return out;
}

/** Threads of one kind summed (`V8Worker`, `libuv-worker`, `MainThread`), CPU us per request. */
function threadsText(before, after, requests) {
  const byKind = new Map();
  for (const [key, ms] of after) {
    const kind = key.slice(0, key.lastIndexOf('#'));
    byKind.set(kind, (byKind.get(kind) ?? 0) + ms - (before.get(key) ?? 0));
  }
  return [...byKind]
    .filter(([, ms]) => ms > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([kind, ms]) => `  ${((ms * 1000) / requests).toFixed(1).padStart(6)} us/req  ${kind}`)
    .join('\n');
}

/** Sampled bytes by package (the innermost frame outside Node's own code) and by allocating function. */
function allocationText(profile, requests, top = 20) {
  const byPackage = new Map();
  const byFunction = new Map();
  let total = 0;
  const frames = new Map();
  const walk = (node, stack) => {
    const path = [...stack, node.callFrame];
    frames.set(node.id, path);
    for (const child of node.children) walk(child, path);
  };
  walk(profile.head, []);
  for (const sample of profile.samples) {
    const path = frames.get(sample.nodeId) ?? [];
    const self = path[path.length - 1];
    total += sample.size;
    const owner = path.findLast((f) => f.url && !f.url.startsWith('node:')) ?? self;
    const pkg = owner?.url ? packageOf(owner.url) : '(node)';
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + sample.size);
    const fn = self
      ? `${self.functionName || '(anonymous)'} ${self.url ? `${packageOf(self.url)}:${self.lineNumber + 1}` : ''}`.trim()
      : '?';
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + sample.size);
  }
  const rank = (map) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, bytes]) => `  ${(bytes / requests).toFixed(0).padStart(6)} B/req  ${name}`)
      .join('\n');
  return `${(total / requests / 1024).toFixed(1)} KB allocated per request\nby package (innermost frame outside node:):\n${rank(byPackage)}\nby allocating function:\n${rank(byFunction)}`;
}

const { ctx, stopAll } = await startSurroundings(m);
const out = [];
try {
  for (const spec of ids) {
    const [id, checkout] = spec.split(':');
    const label = checkout === undefined ? id : `${id} (${checkout})`;
    const target = targetById(id);
    const reason = unavailableReason(target, ctx);
    if (reason) {
      out.push(`== ${label}: unavailable: ${reason}`);
      continue;
    }
    const dir = join(RESULTS_DIR, 'alloc');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${spec.replace(/[^\w-]+/g, '_')}.heapprofile`);
    rmSync(file, { force: true });
    const entry = {
      target,
      ...(await launchTarget(
        target,
        { ...ctx, checkout: checkout === undefined ? undefined : resolve(checkout) },
        { nodeFlags: [`--require=${SAMPLER}`], env: { BENCH_HEAP_OUT: file } },
      )),
    };
    await measureTarget(generator, entry, { connections, seconds: 2, pin }); // warm-up
    const pid = entry.child.pid;
    const before = threadCpu(pid);
    const cpu = await measureTarget(generator, entry, { connections, seconds, pin });
    const after = threadCpu(pid);
    process.kill(pid, 'SIGUSR2');
    const r = await measureTarget(generator, entry, { connections, seconds, pin });
    process.kill(pid, 'SIGUSR2');
    for (let i = 0; i < 100 && !existsSync(file); i++) await delay(100);
    await stop(entry.child, { graceMs: 5000 });
    if (!existsSync(file)) {
      out.push(`== ${label}: no heap profile written`);
      continue;
    }
    const profile = JSON.parse(readFileSync(file, 'utf8'));
    const text = `== ${label} (${target.label})\nCPU per request by thread (${Math.round(cpu.rps)} req/s, no sampler):\n${threadsText(before, after, cpu.requests)}\n${allocationText(profile, r.requests)} (${r.requests} requests sampled)`;
    writeFileSync(join(dir, `${spec.replace(/[^\w-]+/g, '_')}.txt`), text + '\n');
    out.push(text);
  }
} finally {
  await stopAll();
}
process.stdout.write(out.join('\n\n') + '\n');
