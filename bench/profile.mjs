// `node bench/profile.mjs [target ...]`: runs each target (default: engine, portico, portico-full) under
// `node --cpu-prof` with the bench's load, stops it cleanly (SIGTERM, so V8 writes the profile) and prints the top
// self-time functions and packages. Profiles and summaries go to bench/results/profiles/.
// Knobs: BENCH_PROFILE_DURATION (s, 8), BENCH_CONNECTIONS (32), plus those of setup (BENCH_PIN, BENCH_REDIS_URL).
import { mkdirSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { targetById } from './lib/targets.mjs';
import { startSurroundings, toolSetup } from './lib/setup.mjs';
import { launchTarget, unavailableReason } from './lib/launch.mjs';
import { measureTarget } from './lib/measure.mjs';
import { stop } from './lib/proc.mjs';
import { RESULTS_DIR } from './lib/report.mjs';
import { summarizeProfile, profileText } from './lib/cpuprofile.mjs';

const ids = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['engine', 'portico', 'portico-full'];
const seconds = Number(process.env.BENCH_PROFILE_DURATION ?? 8);
const { m, generator, pin, connections } = toolSetup('profile.mjs', `profiling ${ids.join(', ')} for ${seconds}s`);

const { ctx, stopAll } = await startSurroundings(m);
const out = [];
try {
  for (const id of ids) {
    const target = targetById(id);
    const reason = unavailableReason(target, ctx);
    if (reason) {
      out.push(`== ${id}: unavailable: ${reason}`);
      continue;
    }
    const dir = join(RESULTS_DIR, 'profiles', id);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const entry = {
      target,
      ...(await launchTarget(target, ctx, { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${dir}`] })),
    };
    const warm = await measureTarget(generator, entry, { connections, seconds: 2, pin });
    const r = await measureTarget(generator, entry, { connections, seconds, pin });
    const exit = await stop(entry.child, { graceMs: 10_000 });
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) {
      out.push(`== ${id}: no profile written (exit ${JSON.stringify(exit)})`);
      continue;
    }
    const summary = summarizeProfile(join(dir, file));
    const text = `== ${id} (${target.label}): ${Math.round(r.rps)} req/s, ${Math.round(r.cpuUsPerReq)} us CPU/req under profiling\n${profileText(summary, warm.requests + r.requests)}`;
    writeFileSync(join(dir, 'summary.txt'), text + '\n');
    out.push(text);
  }
} finally {
  await stopAll();
}
process.stdout.write(out.join('\n\n') + '\n');
