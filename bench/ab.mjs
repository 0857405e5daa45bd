// `node bench/ab.mjs VARIANT...`: an interleaved comparison of Portico variants against the engine, for judging one
// change on a machine whose speed drifts between runs. Every variant and the engine run at once, each its own
// process on the proxy core (held still with SIGSTOP while another is measured: bench/lib/measure.mjs); rounds
// measure the engine, then each variant in turn, so a slow spell of the machine hits all of them in the same round.
// Each variant's figure per round is the engine's CPU per request divided by the variant's (its "x engine" by CPU),
// and the report gives the median and the range over rounds, the medians of the req/s ratio and of the p99 ratio
// (the variant's p99 over the engine's in the same round), and peak RSS.
//
// VARIANT is a bench target id (bench/lib/targets.mjs), optionally with Node flags after `@` (space- or
// comma-separated; they come after Portico's own, so they override them) and another built checkout after `:`:
//   node bench/ab.mjs portico-full portico-full@--max-semi-space-size=32
//   node bench/ab.mjs portico-log portico-log:../portico-before     (that checkout must have run npm run build)
// Knobs: BENCH_AB_ROUNDS (8), BENCH_AB_SECONDS (3), BENCH_CONNECTIONS (32), plus those of setup (BENCH_PIN,
// BENCH_REDIS_URL).
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { targetById } from './lib/targets.mjs';
import { startSurroundings, toolSetup } from './lib/setup.mjs';
import { launchTarget, unavailableReason } from './lib/launch.mjs';
import { measureTarget } from './lib/measure.mjs';
import { stop } from './lib/proc.mjs';
import { median } from './lib/report.mjs';

/** `portico-full@--a=1,--b=2:../other` → { label, target, nodeFlags, checkout }. */
export function parseVariant(text) {
  const colon = text.indexOf(':');
  const head = colon === -1 ? text : text.slice(0, colon);
  const checkout = colon === -1 ? undefined : text.slice(colon + 1);
  const at = head.indexOf('@');
  const id = at === -1 ? head : head.slice(0, at);
  const flags =
    at === -1
      ? []
      : head
          .slice(at + 1)
          .split(/[\s,]+/)
          .filter(Boolean);
  const target = targetById(id);
  return { label: text, target, nodeFlags: flags, checkout: checkout === undefined ? undefined : resolve(checkout) };
}

const variants = process.argv.slice(2).map(parseVariant);
if (variants.length === 0) {
  process.stderr.write('usage: node bench/ab.mjs VARIANT... (see the head of bench/ab.mjs)\n');
  process.exit(2);
}
const rounds = Number(process.env.BENCH_AB_ROUNDS ?? 8);
const seconds = Number(process.env.BENCH_AB_SECONDS ?? 3);
const { m, generator, pin, connections } = toolSetup(
  'ab.mjs',
  `A/B: ${variants.length} variants + engine, ${rounds} rounds of ${seconds}s`,
);

const { ctx, stopAll } = await startSurroundings(m);
const running = [];
try {
  const engine = targetById('engine');
  running.push({ label: 'engine', target: engine, ...(await launchTarget(engine, ctx)) });
  for (const [i, v] of variants.entries()) {
    const reason = unavailableReason(v.target, ctx);
    if (reason) throw new Error(`${v.label}: ${reason}`);
    // Its own folder: Portico watches its config's folder, and two variants of one target write the same file name.
    const dir = join(ctx.dir, `ab-${i}`);
    mkdirSync(dir, { recursive: true });
    const own = { ...ctx, dir, checkout: v.checkout };
    running.push({ ...v, ...(await launchTarget(v.target, own, { nodeFlags: v.nodeFlags })) });
  }
  const common = { connections, pin, proxyCpu: m.proxyCpu, others: running };
  for (const entry of running) await measureTarget(generator, entry, { ...common, seconds: 2 }); // warm-up
  const [engineEntry, ...variantEntries] = running;
  const engineCpu = [];
  const results = variantEntries.map(() => []);
  for (let round = 1; round <= rounds; round++) {
    const base = await measureTarget(generator, engineEntry, { ...common, seconds });
    engineCpu.push(base.cpuUsPerReq);
    for (const [i, entry] of variantEntries.entries()) {
      const r = await measureTarget(generator, entry, { ...common, seconds });
      results[i].push({
        byCpu: base.cpuUsPerReq / r.cpuUsPerReq,
        byRps: r.rps / base.rps,
        p99: r.p99Ms / base.p99Ms,
        rssMb: r.rssMb,
      });
    }
    process.stderr.write(`round ${round}/${rounds}: engine ${Math.round(base.cpuUsPerReq)} us CPU/req\n`);
  }
  const fmt = (x) => x.toFixed(2);
  const lines = [
    '| variant | x engine by CPU/req, median | range over rounds | x engine by req/s, median | p99 / engine p99, median | peak RSS MB |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const [i, v] of variants.entries()) {
    const rs = results[i];
    const byCpu = rs.map((r) => r.byCpu);
    lines.push(
      `| ${v.label} | ${fmt(median(byCpu))} | ${fmt(Math.min(...byCpu))}-${fmt(Math.max(...byCpu))} | ${fmt(median(rs.map((r) => r.byRps)))} | ${fmt(median(rs.map((r) => r.p99)))} | ${Math.round(Math.max(...rs.map((r) => r.rssMb)))} |`,
    );
  }
  lines.push(
    '',
    `engine CPU per request over the rounds: ${Math.round(Math.min(...engineCpu))}-${Math.round(Math.max(...engineCpu))} us (a wide range means a noisy machine)`,
  );
  process.stdout.write(lines.join('\n') + '\n');
} finally {
  for (const entry of running) if (entry.owned) await stop(entry.child, { graceMs: 5000 });
  await stopAll();
}
