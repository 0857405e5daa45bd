// `npm run bench`: every target of bench/lib/targets.mjs measured in one run with the same load generator,
// connections, duration and pinning; rounds interleaved across targets so background noise spreads evenly, the other
// targets held still while one is measured (bench/lib/measure.mjs); median of rounds; a table on stdout and JSON in
// bench/results/. Bounded: a deadline stops starting new rounds.
//
// Knobs (env): BENCH_DURATION (s per measurement, 4), BENCH_ROUNDS (3), BENCH_WARMUP (s, 3), BENCH_CONNECTIONS (32),
// BENCH_LATENCY_DURATION (s at 1 connection, 2), BENCH_ONLY (comma list of target ids and set names, e.g. issue22;
// bench/lib/targets.mjs), BENCH_LOADGEN=autocannon, BENCH_PIN=0, BENCH_REDIS_URL, BENCH_BUDGET (s, 780),
// BENCH_KEEP_TMP=1.
import { stop, get } from './lib/proc.mjs';
import { launchTarget, unavailableReason } from './lib/launch.mjs';
import { chooseLoadGenerator } from './lib/load.mjs';
import { selectTargets } from './lib/targets.mjs';
import { machine, loadPin, pinningText, startSurroundings, warnIfNotPinnedNode } from './lib/setup.mjs';
import { summarize, table, comparisons, comparisonText, writeJson } from './lib/report.mjs';
import { measureTarget, SETTLE_MS } from './lib/measure.mjs';

const num = (name, fallback) => (process.env[name] ? Number(process.env[name]) : fallback);
const options = {
  duration: num('BENCH_DURATION', 4),
  rounds: num('BENCH_ROUNDS', 3),
  warmup: num('BENCH_WARMUP', 3),
  connections: num('BENCH_CONNECTIONS', 32),
  latencyDuration: num('BENCH_LATENCY_DURATION', 2),
  budgetS: num('BENCH_BUDGET', 780),
};
const selected = selectTargets(process.env.BENCH_ONLY);
const began = Date.now();
const elapsed = () => ((Date.now() - began) / 1000).toFixed(0) + 's';
const log = (line) => process.stderr.write(`[bench ${elapsed()}] ${line}\n`);

const m = machine();
const generator = chooseLoadGenerator();
const pin = loadPin(m);
const header = [
  `Portico bench: ${m.cpu}, ${m.cores} cores, ${m.memGb} GB, Node ${m.node}, load average ${m.loadavg.join(' ')}`,
  `load generator: ${generator.name}${generator.version ? ` ${generator.version} (latency in whole ms; install wrk for finer)` : ''}, ${options.connections} connections, ${options.duration}s x ${options.rounds} rounds (+${options.warmup}s warm-up), c=1 latency pass ${options.latencyDuration}s`,
  `pinning: ${pinningText(m)}`,
  `nginx: ${m.nginx ? m.nginxVersion : 'not installed (apt-get install nginx to add the nginx row)'}`,
];
const nodeWarning = warnIfNotPinnedNode();
if (nodeWarning) header.push(`WARNING: ${nodeWarning}`);
for (const line of header) log(line);

const { ctx, stopAll } = await startSurroundings(m);
log(
  `upstream ${ctx.upstreamUrl}, OTLP sink ${ctx.sinkUrl}, redis: ${ctx.redisUrl ?? 'none'} (${ctx.redisNote}), users database: ${ctx.database.note}`,
);

const live = [];
const results = [];
try {
  for (const target of selected) {
    const result = {
      id: target.id,
      label: target.label,
      sharesCore: target.sharesCore === true,
      connections: target.connections,
      rounds: [],
    };
    results.push(result);
    const reason = unavailableReason(target, ctx);
    if (reason) {
      result.unavailable = reason;
      log(`${target.id}: unavailable: ${reason}`);
      continue;
    }
    try {
      const launched = await launchTarget(target, ctx);
      live.push({ target, result, ...launched });
      log(`${target.id}: ready at ${launched.url} (pid ${launched.child.pid})`);
    } catch (err) {
      result.unavailable = err.message;
      log(`${target.id}: unavailable: ${err.message}`);
    }
  }

  const common = { ...options, pin, proxyCpu: m.proxyCpu, others: live };
  for (const entry of live) await measureTarget(generator, entry, { ...common, seconds: options.warmup });

  for (let round = 1; round <= options.rounds; round++) {
    const perRound = live.length * (options.duration + 0.5 + SETTLE_MS / 1000) + live.length * options.latencyDuration;
    if ((Date.now() - began) / 1000 + perRound > options.budgetS && round > 1) {
      log(`round ${round}: skipped, it would pass the ${options.budgetS}s budget`);
      break;
    }
    for (const entry of live) {
      const r = await measureTarget(generator, entry, { ...common, seconds: options.duration });
      entry.result.rounds.push(r);
      log(
        `round ${round} ${entry.target.id}: ${Math.round(r.rps)} req/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, p99.9 ${r.p999Ms?.toFixed(2)} ms`,
      );
    }
  }

  for (const entry of live) {
    const r = await measureTarget(generator, entry, { ...common, connections: 1, seconds: options.latencyDuration });
    entry.result.latency = { p50Ms: r.p50Ms, p99Ms: r.p99Ms, rps: r.rps };
  }

  // Checked last: span exports are batched, so only now has every tracing target surely exported.
  for (const entry of live) {
    const response = await get(entry.url).catch((err) => ({ status: 0, headers: {}, body: err.message }));
    const expected = entry.target.status ?? 200;
    entry.result.check =
      response.status !== expected
        ? `status ${response.status}`
        : await entry.target.check?.({ ...ctx, adminUrl: entry.adminUrl }, response);
    if (entry.result.check) log(`${entry.target.id}: CHECK FAILED: ${entry.result.check}`);
  }
} finally {
  await Promise.all(live.filter((e) => e.owned).map((e) => stop(e.child)));
  await stopAll();
}

const rows = summarize(results);
const checks = comparisons(rows);
const loadAfter = machine().loadavg;
const report = {
  loadavgAfter: loadAfter,
  startedAt: new Date(began).toISOString(),
  seconds: (Date.now() - began) / 1000,
  machine: m,
  generator: generator.name,
  options,
  pinning: pinningText(m),
  redis: ctx.redisNote,
  database: ctx.database.note,
  rows,
  comparisons: checks,
  raw: results,
};
const file = writeJson(report);
process.stdout.write(
  `\n${header.join('\n')}\n\n${table(rows, options.connections)}\n\nAgainst the targets of issues 4, 5, 9, 17 and 22 (reported, not asserted; ok = met, !! = not met):\n${comparisonText(checks)}\n\nJSON: ${file}\nfinished in ${elapsed()}; load average now ${loadAfter.join(' ')}\n`,
);
