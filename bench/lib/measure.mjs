// One measurement of one target: the load generator's figures plus what the proxy process itself spent (CPU time
// per request from /proc, peak RSS sampled every 250 ms while the load runs).
import { measure } from './load.mjs';
import { cpuMicros, rssBytes } from './proc.mjs';

export async function measureTarget(generator, entry, { connections, seconds, pin }) {
  const pid = entry.child.pid;
  let peakRss = rssBytes(pid);
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssBytes(pid))), 250);
  const cpuBefore = cpuMicros(pid);
  try {
    const r = await measure(generator, { url: entry.url, connections, seconds, pin, headers: entry.target.headers, randomPath: entry.target.randomPath });
    const cpu = cpuMicros(pid) - cpuBefore;
    return { ...r, cpuUsPerReq: r.requests > 0 ? cpu / r.requests : undefined, rssMb: peakRss / 2 ** 20 };
  } finally {
    clearInterval(sampler);
  }
}
