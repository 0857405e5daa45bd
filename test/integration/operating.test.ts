import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import supertest from 'supertest';
import { loadConfigFile } from '../../src/config/load.js';
import { defaultRegistry } from '../../src/middleware/registry.js';
import { startPortico, type Portico } from '../../src/main.js';
import { silentLogger, startTestPortico } from '../helpers/portico.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { request } from '../helpers/http.js';
import { captureLogs } from '../helpers/logs.js';
import { waitFor } from '../helpers/wait.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function tagged(tag: string): Promise<TestUpstream> {
  const up = await startUpstream((_req, res) => res.end(tag));
  cleanup.push(() => up.close());
  return up;
}

describe('admin surface', () => {
  it('serves Prometheus metrics labelled by route name, never by raw path', async () => {
    const up = await tagged('a');
    const p = await startTestPortico(
      `routes:\n  - name: orders\n    match: { pathPrefix: /orders }\n    upstream: ${up.url}\n`,
    );
    cleanup.push(() => p.shutdown());
    await supertest(p.proxyUrl).get('/orders/12345').expect(200);
    await supertest(p.proxyUrl).get('/unknown/777').expect(404);
    const res = await supertest(p.adminUrl).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toMatch(/portico_requests_total\{route="orders",method="GET",status="2xx"\} 1/);
    expect(res.text).toMatch(/portico_requests_total\{route="-",method="GET",status="4xx"\} 1/);
    expect(res.text).toMatch(/portico_request_duration_seconds_bucket\{/);
    expect(res.text).toMatch(/portico_config_info\{hash="[0-9a-f]{12}"\} 1/);
    expect(res.text).toMatch(/^process_resident_memory_bytes \d/m);
    expect(res.text).not.toMatch(/orders\/12345|unknown\/777|route="\//);
  });

  it("shows what the process's tracer and logger dropped, read from their counts at scrape time", async () => {
    const drops = { spans: 0, logLines: 0 };
    const p = await startTestPortico('routes: []\n', { telemetryDrops: () => drops });
    cleanup.push(() => p.shutdown());
    const scrape = async (): Promise<string> => (await supertest(p.adminUrl).get('/metrics').expect(200)).text;
    expect(await scrape()).toMatch(/^portico_trace_spans_dropped_total 0$/m);
    drops.spans = 1024;
    drops.logLines = 7;
    const text = await scrape();
    expect(text).toMatch(/^portico_trace_spans_dropped_total 1024$/m);
    expect(text).toMatch(/^portico_log_lines_dropped_total 7$/m);
  });

  it('counts mirrored copies by route and outcome', async () => {
    const up = await tagged('primary');
    const shadow = await tagged('shadow');
    const p = await startTestPortico(
      `routes:\n  - name: m\n    upstream: ${up.url}\n    mirror: { upstream: "${shadow.url}", sampleRatio: 1 }\n`,
    );
    cleanup.push(() => p.shutdown());
    await supertest(p.proxyUrl).get('/copy-me').expect(200);
    await waitFor(() => shadow.received.length === 1, { message: 'the shadow to get its copy' });
    // The copy's outcome is counted once its answer arrived, after the shadow received it.
    const text = await waitFor(
      async () => {
        const body = (await supertest(p.adminUrl).get('/metrics')).text;
        return /portico_mirror_copies_total\{route="m",outcome="answered"\} 1/.test(body) && body;
      },
      { message: 'the answered copy to be counted' },
    );
    expect(text).toMatch(/portico_mirror_copies_total\{route="m",outcome="sampled"\} 1/);
    expect(text).toMatch(/portico_mirror_copies_total\{route="m",outcome="answered"\} 1/);
  });

  it('shows the effective config with secrets redacted', async () => {
    const up = await tagged('a');
    const p = await startTestPortico(
      `server:\n  listen: 127.0.0.1:0\n  admin: 127.0.0.1:0\n  adminToken: s3cret-token-0123456789\nredis:\n  url: ""\ndatabase:\n  url: postgres://app:hunter2@db.internal:5432/users\nroutes:\n  - name: a\n    upstream: ${up.url}\n`,
    );
    cleanup.push(() => p.shutdown());
    const res = await supertest(p.adminUrl)
      .get('/config')
      .set('Authorization', 'Bearer s3cret-token-0123456789')
      .expect(200);
    const body = res.body as { hash: string; config: { database: { url: string }; server: { adminToken: string } } };
    expect(body.hash).toBe(p.plan().hash);
    expect(body.config.database.url).toBe('postgres://app:***@db.internal:5432/users');
    expect(body.config.server.adminToken).toBe('***');
    expect(JSON.stringify(res.body)).not.toMatch(/hunter2|s3cret/);
  });

  it('checks the bearer token on every admin call when one is set, but the probes', async () => {
    const p = await startTestPortico(
      `server:\n  listen: 127.0.0.1:0\n  admin: 127.0.0.1:0\n  adminToken: s3cret-token-0123456789\n`,
    );
    cleanup.push(() => p.shutdown());
    for (const path of ['/metrics', '/config']) {
      const denied = await supertest(p.adminUrl).get(path);
      expect(denied.status).toBe(401);
      expect(denied.headers['content-type']).toBe('application/problem+json');
      await supertest(p.adminUrl).get(path).set('Authorization', 'Bearer wrong-token-0000000000').expect(401);
      await supertest(p.adminUrl).get(path).set('Authorization', 'Bearer s3cret-token-0123456789').expect(200);
    }
    await supertest(p.adminUrl).delete('/cache/users/1').expect(401);
  });

  it('logs each admin call with the proxy access log field names: refusals at warn, routine probes at debug, never the token or the query', async () => {
    const { logger, lines } = captureLogs();
    const p = await startTestPortico(
      `server:\n  listen: 127.0.0.1:0\n  admin: 127.0.0.1:0\n  adminToken: s3cret-token-0123456789\n`,
      { logger },
    );
    cleanup.push(() => p.shutdown());
    await supertest(p.adminUrl)
      .get('/config?verbose=s3cret-query')
      .set('Authorization', 'Bearer s3cret-token-0123456789')
      .expect(200);
    await supertest(p.adminUrl).get('/metrics').set('Authorization', 'Bearer wrong-token-0000000000').expect(401);
    await supertest(p.adminUrl).get('/healthz').expect(200);
    const admin = () => lines.filter((line) => line.component === 'admin');
    await waitFor(() => admin().length >= 2, { message: 'two admin lines' });
    expect(admin()).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'admin request completed',
        method: 'GET',
        path: '/config',
        route: 'admin',
        status: 200,
        clientIp: '127.0.0.1',
        reqId: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
      }),
      expect.objectContaining({ level: 40, method: 'GET', path: '/metrics', status: 401 }),
    ]);
    expect(typeof admin()[0]?.durationMs).toBe('number');
    expect(JSON.stringify(lines)).not.toMatch(/s3cret|wrong-token|authorization/i);
  });

  it('answers the probes without the token, readiness without its checks', async () => {
    const p = await startTestPortico(
      `server:\n  listen: 127.0.0.1:0\n  admin: 127.0.0.1:0\n  adminToken: s3cret-token-0123456789\n`,
    );
    cleanup.push(() => p.shutdown());
    expect((await supertest(p.adminUrl).get('/healthz').expect(200)).body).toEqual({ status: 'ok' });
    expect((await supertest(p.adminUrl).get('/readyz').expect(200)).body).toEqual({ status: 'ready' });
    // A wrong token is no worse than none: the probe still answers, and still without the checks.
    expect(
      (await supertest(p.adminUrl).get('/readyz').set('Authorization', 'Bearer wrong-token-0000000000').expect(200))
        .body,
    ).toEqual({ status: 'ready' });
    const full = await supertest(p.adminUrl)
      .get('/readyz')
      .set('Authorization', 'Bearer s3cret-token-0123456789')
      .expect(200);
    expect(full.body).toEqual({
      status: 'ready',
      checks: expect.objectContaining({ draining: { ok: true } }) as unknown,
    });
  });

  it('is not reachable through the proxy port, whatever the path', async () => {
    const p = await startTestPortico('routes: []\n');
    cleanup.push(() => p.shutdown());
    const port = Number(new URL(p.proxyUrl).port);
    const paths = [
      '/healthz',
      '/readyz',
      '/metrics',
      '/config',
      '//metrics',
      '/%2e%2e/metrics',
      '/x/../config',
      '/%2fconfig',
      '/healthz%00',
      '/x/%2E%2E/%2E%2E/readyz',
      '/cache/users/1',
    ];
    for (const path of paths) {
      const res = await request(`http://127.0.0.1:${port}${path}`, {
        method: path.startsWith('/cache') ? 'DELETE' : 'GET',
      });
      expect([400, 404]).toContain(res.status);
      expect(res.headers['content-type']).toBe('application/problem+json');
      expect(res.body).not.toMatch(/portico_|"status":"ok"|"ready"|"config"/);
    }
  });
});

describe('hot reload', () => {
  function routeTo(url: string, name: string): string {
    return `server:\n  listen: 127.0.0.1:0\n  admin: 127.0.0.1:0\nuserLookup:\n  enabled: false\nroutes:\n  - name: ${name}\n    upstream: ${url}\n`;
  }

  /** Upstreams answering A and B, and a config file routing to A, removed after the test. */
  async function reloadSetup(routeName: string): Promise<{ a: TestUpstream; b: TestUpstream; file: string }> {
    const a = await tagged('A');
    const b = await tagged('B');
    const dir = mkdtempSync(join(tmpdir(), 'portico-reload-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'portico.yaml');
    writeFileSync(file, routeTo(a.url, routeName));
    return { a, b, file };
  }

  it('swaps plans under load without a failed request; invalid files keep the old plan', async () => {
    const { a, b, file } = await reloadSetup('v0');
    const p: Portico = await startPortico({
      config: await loadConfigFile(file, { registry: defaultRegistry }),
      configFile: file,
      logger: silentLogger,
    });
    cleanup.push(() => p.shutdown());

    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    cleanup.push(() => agent.destroy());
    const failures: string[] = [];
    const seen: string[] = [];
    let stop = false;
    let sent = 0;
    const worker = async () => {
      while (!stop && sent < 20_000) {
        sent++;
        const res = await request(`${p.proxyUrl}/x`, { agent }).catch((err: Error) => ({
          status: 0,
          body: err.message,
        }));
        if (res.status !== 200) failures.push(`${res.status} ${res.body}`);
        else seen.push(res.body);
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, worker));
    // A bound on the load, should the reloads below hang; they end it first.
    const deadline = setTimeout(() => {
      stop = true;
    }, 50_000);

    let expected = 'A';
    for (let version = 1; version <= 20; version++) {
      if (version % 2 === 0) {
        writeFileSync(file, `routes:\n  - name: broken-${version}\n    upstream: not a url\n`);
        expect(await p.reloadFromFile()).toBe(false);
      } else {
        expected = expected === 'A' ? 'B' : 'A';
        writeFileSync(file, routeTo(expected === 'A' ? a.url : b.url, `v${version}`));
        expect(await p.reloadFromFile()).toBe(true);
        const mark = seen.length;
        await waitFor(() => seen.slice(mark).includes(expected), { message: `version ${version} to take effect` });
      }
      expect(p.plan().config.routes[0]?.name).toBe(`v${version % 2 === 0 ? version - 1 : version}`);
    }
    stop = true;
    clearTimeout(deadline);
    await load;
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(20);
    const metrics = await supertest(p.adminUrl).get('/metrics');
    expect(metrics.text).toMatch(/portico_config_reloads_total\{result="failure"\} 10/);
    expect(metrics.text).toMatch(/portico_config_reloads_total\{result="success"\} 11/);
    await supertest(p.adminUrl).get('/readyz').expect(200);
  }, 60_000); // twenty reloads under steady load: seconds on a busy machine

  it('reloads when the watched file changes', async () => {
    const { b, file } = await reloadSetup('first');
    const p = await startPortico({
      config: await loadConfigFile(file, { registry: defaultRegistry }),
      configFile: file,
      watch: true,
      logger: silentLogger,
    });
    cleanup.push(() => p.shutdown());
    expect((await request(`${p.proxyUrl}/`)).body).toBe('A');
    writeFileSync(file, routeTo(b.url, 'second'));
    await waitFor(() => p.plan().config.routes[0]?.name === 'second', { message: 'the watcher to reload' });
    expect((await request(`${p.proxyUrl}/`)).body).toBe('B');
  });
});
