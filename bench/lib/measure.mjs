// One measurement of one target: the load generator's figures plus what the proxy process itself spent (CPU time
// per request from /proc, its share of one core over the run, the share it was runnable but waiting for a CPU taken
// by another process, peak RSS sampled every 250 ms while the load runs).
import { measure } from './load.mjs';
import { cpuMicros, rssBytes, runQueueWaitMicros } from './proc.mjs';

export async function measureTarget(generator, entry, { connections, seconds, pin }) {
  const pid = entry.child.pid;
  let peakRss = rssBytes(pid);
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssBytes(pid))), 250);
  const cpuBefore = cpuMicros(pid);
  const waitBefore = runQueueWaitMicros(pid);
  const began = process.hrtime.bigint();
  try {
    const r = await measure(generator, { url: entry.url, connections, seconds, pin, headers: entry.target.headers, randomPath: entry.target.randomPath });
    const cpu = cpuMicros(pid) - cpuBefore;
    const wallUs = Number(process.hrtime.bigint() - began) / 1000;
    // A saturated proxy keeps its core near 100% busy; much less means it waited (on a dependency, or on a core
    // that something else on the machine was using).
    const busyPct = (100 * cpu) / wallUs;
    const waitAfter = runQueueWaitMicros(pid);
    const cpuWaitPct = waitBefore === undefined || waitAfter === undefined ? undefined : (100 * (waitAfter - waitBefore)) / wallUs;
    return { ...r, cpuUsPerReq: r.requests > 0 ? cpu / r.requests : undefined, busyPct, cpuWaitPct, rssMb: peakRss / 2 ** 20 };
  } finally {
    clearInterval(sampler);
  }
}
