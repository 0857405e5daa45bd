// The load generator: wrk when installed (native, cheap per request), autocannon otherwise. Both run pinned to
// the load core and report the same shape: { rps, p50Ms, p99Ms, p999Ms, requests, errors, non2xx }.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { which } from './proc.mjs';

const LUA = fileURLToPath(new URL('../wrk-report.lua', import.meta.url));
const AUTOCANNON = fileURLToPath(new URL('../servers/autocannon.mjs', import.meta.url));

export function chooseLoadGenerator(prefer = process.env.BENCH_LOADGEN) {
  const wrk = which('wrk');
  if (prefer === 'autocannon' || !wrk) return { name: 'autocannon', version: autocannonVersion() };
  return { name: 'wrk', path: wrk };
}

function autocannonVersion() {
  try {
    return JSON.parse(
      readFileSync(fileURLToPath(new URL('../../node_modules/autocannon/package.json', import.meta.url)), 'utf8'),
    ).version;
  } catch {
    return 'unknown';
  }
}

function run(command, args, timeoutMs, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${command} exited ${code}: ${err.slice(-300) || out.slice(-300)}`));
    });
  });
}

/**
 * One measurement: `connections` keep-alive connections for `seconds` against `url`; with `rate` (req/s, fixed
 * rate for the soak) it is always autocannon, since wrk has no rate limit. `randomPath: { prefix, count }` spreads
 * requests over `prefix + 1..count`; `clientHeader` names a header numbered per request (1, 2, 3, ...).
 * `pin` is the taskset prefix (e.g. ['taskset', '-c', '0']) or [] when not pinning.
 */
export async function measure(
  generator,
  { url, connections, seconds, pin, headers = {}, rate, randomPath, clientHeader },
) {
  const timeoutMs = (seconds + 15) * 1000;
  if (generator.name === 'wrk' && rate === undefined) {
    const headerArgs = Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
    const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '-s', LUA, ...headerArgs, url];
    const [command, ...rest] = pin.length > 0 ? [...pin, generator.path, ...args] : [generator.path, ...args];
    const env = {
      ...(randomPath ? { BENCH_RANDOM_PREFIX: randomPath.prefix, BENCH_RANDOM_COUNT: String(randomPath.count) } : {}),
      ...(clientHeader ? { BENCH_CLIENT_HEADER: clientHeader } : {}),
    };
    const out = await run(command, rest, timeoutMs, env);
    const line = out.split('\n').find((l) => l.startsWith('WRK_JSON '));
    if (!line) throw new Error(`wrk printed no result: ${out.slice(-300)}`);
    const r = JSON.parse(line.slice('WRK_JSON '.length));
    return {
      rps: r.requests / (r.durationUs / 1e6),
      p50Ms: r.p50Us / 1000,
      p99Ms: r.p99Us / 1000,
      p999Ms: r.p999Us / 1000,
      requests: r.requests,
      errors: r.errors,
      non2xx: r.non2xx,
    };
  }
  const args = [
    AUTOCANNON,
    JSON.stringify({ url, connections, duration: seconds, headers, overallRate: rate, randomPath, clientHeader }),
  ];
  const [command, ...rest] = pin.length > 0 ? [...pin, process.execPath, ...args] : [process.execPath, ...args];
  const out = await run(command, rest, timeoutMs);
  const r = JSON.parse(out.trim().split('\n').pop());
  return {
    rps: r.requests / r.seconds,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    p999Ms: r.p999Ms,
    requests: r.requests,
    errors: r.errors,
    non2xx: r.non2xx,
  };
}
