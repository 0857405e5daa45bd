// One measurement of one target: the load generator's figures plus what the proxy process itself spent (CPU time
// per request from /proc, its share of one core over the run, the share of its core that other processes used
// meanwhile, peak RSS sampled every 250 ms while the load runs).
import { setTimeout as delay } from 'node:timers/promises';
import { measure } from './load.mjs';
import { cpuBusyMicros, cpuMicros, holdTree, rssBytes } from './proc.mjs';

/** Idle time given to the target, alone, before its load starts (see `others`). */
export const SETTLE_MS = 1000;

/**
 * `others`: the other live targets of a run that keeps several running. Those the bench spawned are held still
 * (SIGSTOP) from before this target's settle second until its measurement ends, so it is alone on the proxy core: an
 * idle Node target still runs timers, and a few seconds after its own load stopped V8's memory reducer runs full
 * collections, which took 2-11% of the core from whichever target was measured meanwhile (bench/README.md, "Fifth
 * round"). The settle second lets the target finish what it had left when it was held or last measured: wrk closes
 * its connections with requests in flight, and a new wrk run of 256 connections on top of that teardown saw some
 * requests stall for over a second (the engine's too; not seen with a Node client).
 */
export async function measureTarget(generator, entry, { connections, seconds, pin, proxyCpu, others }) {
  const pid = entry.child.pid;
  const held = (others ?? []).filter((other) => other !== entry && other.owned && other.child?.pid !== undefined);
  for (const other of held) holdTree(other.child.pid, true);
  if (others !== undefined) await delay(SETTLE_MS);
  let peakRss = rssBytes(pid);
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssBytes(pid))), 250);
  const cpuBefore = cpuMicros(pid);
  const coreBefore = entry.target.sharesCore ? undefined : cpuBusyMicros(proxyCpu);
  const began = process.hrtime.bigint();
  try {
    const r = await measure(generator, {
      url: entry.url,
      // A target may fix its own connection count (the 256-connection rows); the c=1 latency pass passes 1.
      connections: connections === 1 ? 1 : (entry.target.connections ?? connections),
      seconds,
      pin,
      headers: entry.target.headers,
      randomPath: entry.target.randomPath,
      clientHeader: entry.target.clientHeader,
    });
    const cpu = cpuMicros(pid) - cpuBefore;
    const wallUs = Number(process.hrtime.bigint() - began) / 1000;
    // A saturated proxy keeps its core near 100% busy; much less means it waited (on a dependency, or on a core
    // that something else on the machine was using).
    const busyPct = (100 * cpu) / wallUs;
    const coreAfter = coreBefore === undefined ? undefined : cpuBusyMicros(proxyCpu);
    const othersPct =
      coreAfter === undefined ? undefined : Math.max(0, (100 * (coreAfter - coreBefore - cpu)) / wallUs);
    return {
      ...r,
      cpuUsPerReq: r.requests > 0 ? cpu / r.requests : undefined,
      busyPct,
      othersPct,
      rssMb: peakRss / 2 ** 20,
    };
  } finally {
    clearInterval(sampler);
    for (const other of held) holdTree(other.child.pid, false);
  }
}
