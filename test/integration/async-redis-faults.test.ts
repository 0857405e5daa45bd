/**
 * Async routes on Redis when something dies: an instance killed with SIGKILL while holding tasks (the other claims
 * them after `claimIdle` and delivers them), and Redis itself killed and restarted (accepts in the outage get 503,
 * no acknowledged task is lost). The restarted Redis is a private one with AOF on `appendfsync always`, the
 * durability a deployment that must not lose acknowledged tasks runs with.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request, waitFor } from '../helpers/http.js';
import { startTestPortico } from '../helpers/portico.js';
import { writeTsChild } from '../helpers/ts-child.js';
import { deleteKeys, idempotentUpstream, type IdempotentUpstream } from '../helpers/tasks.js';
import { launch, stop } from '../helpers/redis-server.js';
import { sparePort } from '../helpers/ports.js';
import type { Portico } from '../../src/main.js';

const CHILD = `
const pino = require(dep('pino'));
const { loadConfigText } = require(src('config/load.ts'));
const { defaultRegistry } = require(src('middleware/registry.ts'));
const { startPortico } = require(src('main.ts'));
const config = loadConfigText(process.argv[2], 'child.yaml', { registry: defaultRegistry, env: {} });
startPortico({ config, logger: pino({ level: 'silent' }) }).then(
  (portico) => process.send({ proxy: portico.proxyUrl }),
  (err) => { process.stderr.write(String(err && err.stack) + '\\n'); process.exit(1); },
);
`;

/** A child compiles Portico's sources as it loads them: seconds idle, several times that on a busy machine. */
const CHILD_TIMEOUT_MS = 60_000;

function yaml(redisUrl: string, upstream: string, prefix: string, async: string): string {
  return `server:
  listen: 127.0.0.1:0
  admin: 127.0.0.1:0
  drainTimeout: 1s
userLookup:
  enabled: false
redis:
  url: ${redisUrl}
routes:
  - name: hooks
    match: { pathPrefix: /hooks }
    upstream: ${upstream}
    async: { keyPrefix: "${prefix}", ${async} }
`;
}

async function accept(base: string, path: string): Promise<{ status: number; id?: string }> {
  const res = await request(`${base}${path}`, { method: 'POST', body: 'x' }).catch(() => ({ status: 0, body: '' }));
  return { status: res.status, id: res.status === 202 ? (JSON.parse(res.body) as { id: string }).id : undefined };
}

describe('async route on Redis, when something dies', () => {
  let dir: string;
  let up: IdempotentUpstream | undefined;
  let portico: Portico | undefined;
  let child: ChildProcess | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'portico-async-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    await portico?.shutdown();
    await up?.upstream.close();
    portico = undefined;
    up = undefined;
    child = undefined;
  });

  it(
    'an instance killed with SIGKILL mid-delivery: the other claims its tasks after claimIdle and delivers them',
    async () => {
      const prefix = `test:async:${randomBytes(6).toString('hex')}:`;
      let hold = true;
      up = await idempotentUpstream(() => hold); // held attempts get no answer until the holder dies
      const text = yaml(
        'redis://127.0.0.1:6379',
        up.upstream.url,
        prefix,
        'attemptTimeout: 5s, claimIdle: 6s, backoff: 10ms',
      );
      const file = writeTsChild(dir, CHILD);
      child = fork(file, [text], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      const [ready] = (await Promise.race([
        once(child, 'message'),
        new Promise((_, reject) => {
          setTimeout(() => reject(new Error('child did not start')), CHILD_TIMEOUT_MS).unref();
        }),
      ])) as [{ proxy: string }];
      try {
        const ids: string[] = [];
        for (let i = 0; i < 10; i++) ids.push((await accept(ready.proxy, `/hooks/${i}`)).id as string);
        const target = up;
        await waitFor(() => ids.every((id) => target.attempts.includes(id))); // each held by the child
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
        hold = false;
        const startedAt = performance.now();
        portico = await startTestPortico(text);
        await waitFor(() => ids.every((id) => target.applied.has(id)), { timeoutMs: 20_000 });
        expect(performance.now() - startedAt).toBeGreaterThan(1000); // claimed after the idle time, not at once
        const status = JSON.parse((await request(`${portico.proxyUrl}/_portico/tasks/hooks/${ids[0]}`)).body) as {
          status: string;
          attempts: number;
        };
        expect(status).toMatchObject({ status: 'succeeded', attempts: 2 });
      } finally {
        await deleteKeys('redis://127.0.0.1:6379', prefix);
      }
    },
    CHILD_TIMEOUT_MS + 40_000,
  );

  it('Redis killed and restarted: accepts in the outage get 503, every acknowledged task is delivered', async () => {
    const port = await sparePort();
    const args = ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir];
    let redis: ChildProcess | undefined = await launch(port, { args });
    try {
      up = await idempotentUpstream();
      const text = yaml(
        `redis://127.0.0.1:${port}`,
        up.upstream.url,
        'portico:tasks:',
        'attemptTimeout: 1s, claimIdle: 2s, backoff: 10ms, maxBackoff: 200ms, maxAttempts: 100',
      );
      portico = await startTestPortico(text);
      const acknowledged: string[] = [];
      for (let i = 0; i < 30; i++) {
        const res = await accept(portico.proxyUrl, `/hooks/${i}`);
        expect(res.status).toBe(202);
        acknowledged.push(res.id as string);
      }
      await stop(redis);
      redis = undefined;
      const during = await accept(portico.proxyUrl, '/hooks/outage');
      expect(during.status).toBe(503);
      const status = await request(`${portico.proxyUrl}/_portico/tasks/hooks/${acknowledged[0]}`);
      expect(status.status).toBe(503);
      expect(status.headers['retry-after']).toBe('1');
      redis = await launch(port, { args });
      const proxy = portico.proxyUrl;
      const after = await waitFor(async () => {
        const res = await accept(proxy, '/hooks/after');
        return res.status === 202 ? res : undefined;
      });
      acknowledged.push(after.id as string);
      const target = up;
      await waitFor(() => acknowledged.every((id) => target.applied.has(id)), {
        timeoutMs: 20_000,
        message: () => `${acknowledged.filter((id) => !target.applied.has(id)).length} acknowledged tasks undelivered`,
      });
    } finally {
      await stop(redis);
    }
  }, 60_000);
});
