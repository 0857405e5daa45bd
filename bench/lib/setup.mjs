// The run's fixed surroundings, shared by run.mjs, soak.mjs and profile.mjs: the machine and pinning plan, a temp
// dir, and the processes every target leans on (upstream, OTLP sink, a private redis-server), all on the load core.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'node:net';
import { freePort, spawnPinned, stop, waitReady, which } from './proc.mjs';
import { nginxBinary, nginxVersion } from './nginx.mjs';
import { chooseLoadGenerator } from './load.mjs';

const SERVERS = fileURLToPath(new URL('../servers/', import.meta.url));

/** Pinning plan: on >= 2 cores with taskset, the proxy under test gets core 1, everything else core 0. */
export function machine() {
  const cores = availableParallelism();
  const taskset = which('taskset');
  const pinning = cores >= 2 && taskset !== undefined && process.env.BENCH_PIN !== '0';
  const nginx = nginxBinary();
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores,
    memGb: Math.round(totalmem() / 2 ** 30),
    loadavg: loadavg().map((v) => Number(v.toFixed(2))),
    node: process.version,
    nginx,
    nginxVersion: nginx ? nginxVersion(nginx) : undefined,
    pinning,
    proxyCpu: pinning ? 1 : undefined,
    loadCpu: pinning ? 0 : undefined,
    pinReason: pinning
      ? undefined
      : cores < 2
        ? 'fewer than 2 cores'
        : taskset
          ? 'BENCH_PIN=0'
          : 'taskset not installed',
  };
}

/** The `taskset` prefix that puts a load generator on the load core, or [] when not pinning. */
export function loadPin(m) {
  return m.pinning ? ['taskset', '-c', String(m.loadCpu)] : [];
}

export function pinningText(m) {
  if (!m.pinning) return `no CPU pinning (${m.pinReason})`;
  return `taskset: proxy under test on CPU ${m.proxyCpu}; upstream, load generator, OTLP sink and redis-server on CPU ${m.loadCpu}`;
}

export function warnIfNotPinnedNode() {
  const major = Number(process.versions.node.split('.')[0]);
  return major < 24 ? `running on Node ${process.version}, not the pinned Node 24: use npm run bench` : undefined;
}

/**
 * The opening every measuring tool shares (profile.mjs, ab.mjs, alloc.mjs): the machine, the load generator and its
 * pinning, the connection count, a warning when not on the pinned Node (targets run on this process's Node: a figure
 * taken on another version describes another program), and one line saying what is measured and how.
 */
export function toolSetup(script, describe) {
  const m = machine();
  const generator = chooseLoadGenerator();
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
  const warning = warnIfNotPinnedNode();
  if (warning) process.stderr.write(`warning: ${warning} (or node_modules/.bin/node bench/${script})\n`);
  process.stderr.write(`${describe}: ${generator.name}, ${connections} connections; ${pinningText(m)}\n`);
  return { m, generator, pin: loadPin(m), connections };
}

/** Starts upstream, OTLP sink and (when redis-server exists) a private Redis; returns ctx + a stop function. */
export async function startSurroundings(m, { redis = true } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'portico-bench-'));
  const started = [];
  const pinned = (name, args, cpu = m.loadCpu) =>
    spawnPinned({
      cpu,
      pinning: m.pinning,
      command: process.execPath,
      args: [join(SERVERS, name), ...args],
      logFile: join(dir, `${name}.log`),
    });

  const upstreamPort = await freePort();
  const upstream = pinned('upstream.mjs', [String(upstreamPort)]);
  started.push(upstream);
  const sinkPort = await freePort();
  const sink = pinned('otlp-sink.mjs', [String(sinkPort)]);
  started.push(sink);
  const ctx = {
    dir,
    pinning: m.pinning,
    proxyCpu: m.proxyCpu,
    loadCpu: m.loadCpu,
    nginx: m.nginx,
    upstream,
    upstreamPort,
    upstreamUrl: `http://127.0.0.1:${upstreamPort}`,
    sinkUrl: `http://127.0.0.1:${sinkPort}`,
    redisUrl: undefined,
    redisNote: undefined,
  };
  await waitReady(`${ctx.upstreamUrl}/`, { child: upstream });
  await waitReady(`${ctx.sinkUrl}/stats`, { child: sink });
  if (redis) Object.assign(ctx, await startRedis(m, dir, started));
  ctx.database = await chooseDatabase();

  const stopAll = async () => {
    await Promise.all(started.map((child) => stop(child)));
    if (process.env.BENCH_KEEP_TMP !== '1') rmSync(dir, { recursive: true, force: true });
  };
  return { ctx, stopAll };
}

/** A private redis-server on a spare port (no persistence), else BENCH_REDIS_URL; undefined url when neither. */
async function startRedis(m, dir, started) {
  if (process.env.BENCH_REDIS_URL) return { redisUrl: process.env.BENCH_REDIS_URL, redisNote: 'BENCH_REDIS_URL' };
  const binary = which('redis-server');
  if (!binary) {
    if (await listening(6379))
      return {
        redisUrl: 'redis://127.0.0.1:6379',
        redisNote: 'the Redis already on 127.0.0.1:6379 (no redis-server binary to start a private one)',
      };
    return {
      redisUrl: undefined,
      redisNote: 'redis-server not installed, nothing on 127.0.0.1:6379, BENCH_REDIS_URL not set',
    };
  }
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  const child = spawnPinned({
    cpu: m.loadCpu,
    pinning: m.pinning,
    command: binary,
    args,
    logFile: join(dir, 'redis.log'),
  });
  started.push(child);
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    if (child.exitInfo)
      return {
        redisUrl: undefined,
        redisNote: `redis-server exited: ${readFileSync(join(dir, 'redis.log'), 'utf8').slice(-200)}`,
      };
    if (/Ready to accept connections/.test(readFileSafe(join(dir, 'redis.log')))) {
      return { redisUrl: `redis://127.0.0.1:${port}`, redisNote: `private redis-server on port ${port}` };
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { redisUrl: undefined, redisNote: 'redis-server not ready within 10s' };
}

/**
 * The user lookup's database: BENCH_DATABASE_URL (a URL, or `embedded`), else a PostgreSQL answering on 127.0.0.1:5432 (database `test`,
 * user postgres, as the tests use), else Portico's embedded database (in the proxy process, on the proxy core).
 */
async function chooseDatabase() {
  const asked = process.env.BENCH_DATABASE_URL;
  if (asked === 'embedded')
    return { url: undefined, note: 'embedded database (BENCH_DATABASE_URL=embedded), in the proxy process' };
  if (asked) return { url: asked, note: 'BENCH_DATABASE_URL' };
  if (await listening(5432))
    return {
      url: 'postgres://postgres@127.0.0.1:5432/test',
      note: 'PostgreSQL on 127.0.0.1:5432 (unpinned), schema portico_bench',
    };
  return { url: undefined, note: 'embedded database (no PostgreSQL on 127.0.0.1:5432)' };
}

/** True when something accepts a TCP connection on 127.0.0.1:`port` within 500 ms. */
function listening(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, timeout: 500 });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

function readFileSafe(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
