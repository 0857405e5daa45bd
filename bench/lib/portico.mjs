// Portico targets: one YAML file per target in the run's temp dir, then `node dist/cli.js serve --config FILE` on the
// pinned Node, on the proxy core. Everything a target needs (ports, upstream, Redis, OTLP sink) comes from `ctx`.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { lastLogLine, spawnPinned } from './proc.mjs';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(REPO, 'dist', 'cli.js');

/** Each tracing target exports to its own path on the sink, so the check can tell whose spans arrived. */
export function sinkEndpoint(ctx, id) {
  return `${ctx.sinkUrl}/${id}/v1/traces`;
}

/** The bench's rate-limit policy: keyed by client ip, limit far above what any run sends, so it is never hit. */
export const NEVER_HIT_POLICY = { bench: { key: 'ip', limit: 1_000_000_000, window: '1h', onStoreError: 'allow' } };
/** The header the load generator numbers per request for `clientHeader` targets (BENCH_CLIENT_HEADER in the Lua). */
export const CLIENT_HEADER = 'x-bench-client';
/** The same policy keyed on that header: every request its own counter (expiring after a second), so no two share a Redis command. */
export const PER_REQUEST_KEY_POLICY = {
  'bench-keyed': { ...NEVER_HIT_POLICY.bench, key: `header:${CLIENT_HEADER}`, window: '1s' },
};

/**
 * The config of one Portico target. `spec` says which pieces are on:
 * { middleware: [...entries], redis: bool, tracing: bool, logging: bool, users: false | 'hit' | 'miss', mirror: ratio,
 *   resilience: bool,
 *   server: { ...server keys }, connections: n (the load's, when not BENCH_CONNECTIONS) }.
 */
export function porticoConfig(spec, ctx) {
  const telemetry = {
    serviceName: 'portico-bench',
    logs: { level: 'info', destination: join(ctx.dir, `${spec.id}.requests.log`) },
    traces: spec.tracing
      ? { exporter: 'otlp', endpoint: sinkEndpoint(ctx, spec.id), sampleRatio: 1 }
      : { exporter: 'none' },
  };
  const config = {
    server: {
      listen: `127.0.0.1:${ctx.port}`,
      admin: `127.0.0.1:${ctx.adminPort}`,
      drainTimeout: '3s',
      ...spec.server,
    },
    redis: { url: spec.redis ? ctx.redisUrl : '' },
    telemetry,
    rateLimits: { ...NEVER_HIT_POLICY, ...PER_REQUEST_KEY_POLICY },
    routes: [
      { name: 'api', match: { pathPrefix: '/api' }, upstream: ctx.upstreamUrl, middleware: spec.middleware ?? [] },
    ],
    userLookup: { enabled: false },
  };
  // Three upstreams with health checks and outlier detection: the route takes the resilient forwarder (balance,
  // per-try accounting, outlier bookkeeping) and each upstream is probed every second. The bench has one upstream
  // server, so the three are three base paths on it (one origin, one agent): the cost measured is Portico's.
  if (spec.resilience) {
    config.routes[0].upstream = ['/r1/', '/r2/', '/r3/'].map((base) => `${ctx.upstreamUrl}${base}`);
    config.routes[0].healthCheck = { path: '/health', interval: '1s', timeout: '500ms' };
    config.routes[0].outlierDetection = { consecutiveFailures: 5, baseEjection: '30s' };
  }
  // Mirrored copies go to the same upstream: the cost measured is Portico's (tee, pool, second request).
  if (spec.mirror) config.routes[0].mirror = { upstream: ctx.upstreamUrl, sampleRatio: spec.mirror };
  // An async route: every request is stored and answered 202, and delivered to the same upstream meanwhile (the
  // deliveries share the proxy's core, as they would in production). A queue and retention sized for a run.
  if (spec.async)
    config.routes[0].async = { queue: 2_000_000, retention: '10m', backoff: '50ms', keyPrefix: 'portico-bench:tasks:' };
  if (spec.users) {
    config.userLookup = {
      enabled: true,
      path: '/users/:id',
      cache: { enabled: spec.users === 'hit', ttl: '1h' },
      middleware: spec.middleware ?? [],
      ...(ctx.database?.url ? { schema: BENCH_SCHEMA } : {}),
    };
    if (ctx.database?.url) config.database = { url: ctx.database.url };
  }
  return config;
}

/** The bench's users live in their own schema, so they never meet a test's or a real `public.users`. */
export const BENCH_SCHEMA = 'portico_bench';
/** Ids 1..SAMPLE_USERS exist; the embedded database seeds 100 by itself, an external one is seeded this many. */
export const SAMPLE_USERS = 100;

/** Why Portico cannot run at all, or undefined when dist/cli.js is there. */
export function porticoUnavailable() {
  return existsSync(CLI) ? undefined : `dist/cli.js missing (run npm run build)`;
}

/**
 * The Node flags Portico runs with: `npm start` and the Dockerfile's entrypoint pass the same (a unit test keeps the
 * three in step). They trade some throughput for memory, measured in interleaved runs of the full chain at saturation
 * (8 rounds, median; README "Memory"):
 * - 8 MiB young-generation semi-spaces instead of the size V8 derives from the machine's memory (on a 24 GB machine
 *   the full chain reached 250-290 MB RSS);
 * - the old generation grown by a fixed 50% over the live size at each major GC instead of V8's adaptive factor.
 * Full chain: 137 MB RSS at 0.33x the engine with these flags; V8's defaults 176-254 MB at 0.37x;
 * `--max-semi-space-size=32 --heap-growing-percent=30` 176 MB at 0.39x. Without middleware the flags cost no
 * measurable throughput (122 against 161 MB).
 */
export const PORTICO_NODE_FLAGS = ['--max-semi-space-size=8', '--heap-growing-percent=50'];

/** BENCH_PORTICO_NODE_FLAGS: replaces PORTICO_NODE_FLAGS for the Portico targets, to try other V8 settings. */
function extraFlags() {
  const override = process.env.BENCH_PORTICO_NODE_FLAGS;
  return override === undefined ? PORTICO_NODE_FLAGS : override.split(/\s+/).filter(Boolean);
}

function writeConfig(spec, ctx) {
  const file = join(ctx.dir, `${spec.id}.yaml`);
  writeFileSync(file, `# generated by bench/ for target ${spec.id}\n${stringify(porticoConfig(spec, ctx))}`);
  return file;
}

/**
 * Loads the sample users into an external PostgreSQL (`portico seed`, idempotent); the embedded database seeds
 * itself at start. Resolves undefined, or the reason the user-lookup targets cannot run.
 */
export async function seedDatabase(spec, ctx) {
  if (!ctx.database?.url) return undefined;
  const file = writeConfig(spec, ctx);
  const child = spawnPinned({
    cpu: ctx.loadCpu,
    pinning: ctx.pinning,
    command: process.execPath,
    args: [CLI, 'seed', '--config', file, '--count', String(SAMPLE_USERS)],
    logFile: join(ctx.dir, 'seed.log'),
    cwd: REPO,
  });
  const exit = await new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  return exit === 0 ? undefined : `portico seed failed (exit ${exit}): ${lastLogLine(child)}`;
}

/** Writes the target's YAML and spawns it; `ctx.nodeFlags` lets the profiler add --cpu-prof. */
export function startPortico(spec, ctx) {
  const file = writeConfig(spec, ctx);
  // `ctx.checkout`: another built checkout of Portico to run instead of this one (bench/ab.mjs compares the two).
  const root = ctx.checkout ?? REPO;
  const child = spawnPinned({
    cpu: ctx.proxyCpu,
    pinning: ctx.pinning,
    command: process.execPath,
    args: [...extraFlags(), ...(ctx.nodeFlags ?? []), join(root, 'dist', 'cli.js'), 'serve', '--config', file],
    logFile: join(ctx.dir, `${spec.id}.stdout.log`),
    env: { NODE_ENV: 'production', ...ctx.env },
    cwd: root,
  });
  child.configFile = file;
  return child;
}
