/**
 * A proxy stack for mirror tests: the real plan and proxy listener on 127.0.0.1 port 0, with an injected worker
 * pool (the composition root may not pass one yet), no middleware, in-process stores and a silent logger.
 */
import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { noopMetrics } from '../../src/telemetry/metrics.js';
import { buildPlan } from '../../src/plan/build.js';
import { createUpstreamProxies } from '../../src/proxy/forward.js';
import { createAgentPool } from '../../src/proxy/agents.js';
import { createProxyServer } from '../../src/server.js';
import { memoryStores } from '../../src/stores/stores.js';
import { WorkerPool } from '../../src/pool/pool.js';
import type { WorkerPoolConfig } from '../../src/pool/config.js';
import { WAIT_TIMEOUT_MS, waitFor } from './wait.js';

export interface MirrorStack {
  readonly url: string;
  readonly pool: WorkerPool;
  close(): Promise<void>;
}

export async function startMirrorStack(routes: unknown[], pool: Partial<WorkerPoolConfig> = {}): Promise<MirrorStack> {
  const config = configSchema.parse({
    server: { listen: '127.0.0.1:0', admin: '127.0.0.1:0' },
    routes,
    workerPool: pool,
  });
  const logger = pino({ level: 'silent' });
  const agents = createAgentPool({ maxSockets: 64, idleTimeout: 1000 });
  const workers = new WorkerPool({ ...config.workerPool, logger });
  const plan = buildPlan(config, {
    config,
    logger,
    stores: memoryStores(),
    metrics: noopMetrics,
    registry: new Map(),
    builtins: [],
    proxies: createUpstreamProxies({ draining: () => false }, (url) => agents.agentFor(url)),
    agents,
    pool: workers,
  });
  const proxy = createProxyServer({ currentPlan: () => plan, logger, server: config.server });
  proxy.server.listen(0, '127.0.0.1');
  await once(proxy.server, 'listening');
  const { port } = proxy.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    pool: workers,
    async close() {
      await proxy.drain(100);
      await workers.shutdown(100);
      agents.destroy();
    },
  };
}

/** What a shadow server saw of one request, and a handle on its still-open response. */
export interface ShadowHit {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly res: ServerResponse;
  readonly req: IncomingMessage;
}

/** A shadow upstream that records each request and calls `onHit`, which decides whether (and how) to answer. */
export async function startShadow(
  onHit: (hit: ShadowHit) => void,
): Promise<{ url: string; hits: ShadowHit[]; close(): Promise<void> }> {
  const hits: ShadowHit[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const hit = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
        res,
        req,
      };
      hits.push(hit);
      onHit(hit);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close').catch(() => undefined);
    },
  };
}

/** Polls `check` until it holds or `deadlineMs` passes (then fails with `what`); the suite's `waitFor`. */
export async function until(check: () => boolean, what: string, deadlineMs = WAIT_TIMEOUT_MS): Promise<void> {
  await waitFor(check, { timeoutMs: deadlineMs, message: what });
}

/** One request on a fresh connection; resolves with status and body once the response has ended. */
export function call(
  url: string,
  options: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer | string[] } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    // An array is written chunk by chunk (with chunked framing when no content-length is set).
    if (Array.isArray(options.body)) for (const part of options.body) req.write(part);
    else if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}
