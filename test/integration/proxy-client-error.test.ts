/**
 * The engine's web() promise rejects when the client response emits `error` (test/contracts/httpxy.test.ts). The
 * forwarder discards that promise, so it must catch it: an unhandled rejection is fatal in the CLI
 * (src/telemetry/logger.ts logFatalAndExit).
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createUpstreamProxies } from '../../src/proxy/forward.js';

const servers: http.Server[] = [];
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
  await Promise.all(servers.map((server) => once(server, 'close')));
});

async function listen(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler).listen(0, '127.0.0.1');
  servers.push(server);
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('a client response error during a forward is not an unhandled rejection', async () => {
  const upstream = await listen((_req, res) => res.end('upstream'));
  const agent = new http.Agent({ keepAlive: false });
  const proxy = createUpstreamProxies({ draining: () => false }, () => agent).proxyFor(new URL(upstream));
  const unhandled: unknown[] = [];
  const record = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', record);
  try {
    const failure = new Error('client response failed');
    const url = await listen((req: IncomingMessage, res: ServerResponse) => {
      proxy.web(req, res);
      res.emit('error', failure);
      res.writeHead(500).end();
    });
    expect((await fetch(url)).status).toBe(500);
    // Unhandled rejections are reported after the microtask queue drains: wait one macrotask turn past it.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', record);
    agent.destroy();
  }
});
