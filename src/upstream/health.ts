/**
 * Active health checks: the verdict (pure: a check's outcome moves the streaks, a threshold flips the verdict) and
 * the prober (I/O: one GET per upstream per interval, on timers that never hold the process open, stopped with the
 * plan that started them).
 */
import http from 'node:http';
import https from 'node:https';
import type { HealthCheckConfig } from './config.js';
import type { UpstreamState } from './state.js';

/** Applies one check's outcome. Returns the new verdict when it changed, undefined otherwise. */
export function recordCheck(
  state: UpstreamState,
  passed: boolean,
  config: Pick<HealthCheckConfig, 'healthyThreshold' | 'unhealthyThreshold'>,
): boolean | undefined {
  if (passed) {
    state.checksFailed = 0;
    state.checksPassed++;
    if (!state.healthy && state.checksPassed >= config.healthyThreshold) {
      state.healthy = true;
      return true;
    }
  } else {
    state.checksPassed = 0;
    state.checksFailed++;
    if (state.healthy && state.checksFailed >= config.unhealthyThreshold) {
      state.healthy = false;
      return false;
    }
  }
  return undefined;
}

/**
 * One check: GET `path` on a fresh connection (not the request pool: a check must see whether a new connection
 * works, and must not take a socket a request waits for). Passes on 2xx or 3xx within `timeoutMs`; never rejects.
 */
export function probe(base: URL, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const client = base.protocol === 'https:' ? https : http;
    const req = client.request(
      {
        protocol: base.protocol,
        hostname: base.hostname,
        port: base.port,
        path,
        method: 'GET',
        agent: false,
        headers: { 'user-agent': 'portico-health-check', connection: 'close' },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        clearTimeout(timer);
        resolve(status >= 200 && status < 400);
        res.on('error', () => undefined);
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`health check timed out after ${timeoutMs}ms`)), timeoutMs);
    timer.unref();
    req.on('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
    req.end();
  });
}

export interface CheckTarget {
  readonly url: URL;
  readonly state: UpstreamState;
}

/** Starts checking `targets`: one at once, then every interval. Returns the stop function. */
export function startHealthChecks(
  targets: readonly CheckTarget[],
  config: HealthCheckConfig,
  onChange: (target: CheckTarget, healthy: boolean) => void,
  check: (url: URL, path: string, timeoutMs: number) => Promise<boolean> = probe,
): () => void {
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  const run = (target: CheckTarget): void => {
    // Cannot reject: `check` resolves false on every failure.
    void check(target.url, config.path, config.timeout).then((passed) => {
      if (stopped) return;
      const changed = recordCheck(target.state, passed, config);
      if (changed !== undefined) onChange(target, changed);
      const timer = setTimeout(() => {
        timers.delete(timer);
        run(target);
      }, config.interval);
      timer.unref();
      timers.add(timer);
    });
  };
  for (const target of targets) run(target);
  return () => {
    stopped = true;
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
  };
}
