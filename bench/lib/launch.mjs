// Starting one target and waiting until it answers its path, shared by run.mjs, profile.mjs and soak.mjs.
import { freePort, stop, waitReady } from './proc.mjs';

/**
 * Why `target` cannot run here (missing nginx, Redis, dist/cli.js), or undefined. `ctx` is the surroundings.
 */
export function unavailableReason(target, ctx) {
  if (target.needs.includes('nginx') && !ctx.nginx) return 'nginx not installed';
  if (target.needs.includes('redis') && !ctx.redisUrl) return `no Redis (${ctx.redisNote})`;
  return target.unavailable?.();
}

/**
 * Starts `target` on fresh ports and waits for a 200 on its path. Resolves `{ child, url, owned, adminUrl }`;
 * rejects with the reason after stopping what it started. `nodeFlags` go to Node targets (e.g. --cpu-prof).
 */
export async function launchTarget(target, ctx, { nodeFlags = [], env = {}, deadlineMs = 30_000 } = {}) {
  const port = await freePort();
  const adminPort = await freePort();
  const notReady = await target.prepare?.({ ...ctx, port, adminPort }, ctx);
  if (notReady) throw new Error(notReady);
  const started = target.start({ ...ctx, port, adminPort, nodeFlags, env });
  const child = started.reuse ?? started;
  const url = `http://127.0.0.1:${started.port ?? port}${target.path}`;
  try {
    // A route-not-found answer will not change while the process runs: give up at once.
    await waitReady(url, {
      child: started.reuse ? undefined : child,
      deadlineMs,
      accept: (r) => r.status === (target.status ?? 200), // async routes answer 202
      fatal: (r) => r.body.includes('ROUTE_NOT_FOUND'),
    });
  } catch (err) {
    if (!started.reuse) await stop(child, { graceMs: 2000 });
    throw err;
  }
  return { child, url, owned: !started.reuse, adminUrl: `http://127.0.0.1:${adminPort}` };
}
