/**
 * The other ways into a resilient route's forwarder: a body an `express` middleware already read (forwarded from
 * its copy, one try, never replayed) and a WebSocket upgrade (balanced, passed through).
 */
import net from 'node:net';
import { once } from 'node:events';
import { pluginFolder, startFromFolder } from '../helpers/express-plugins.js';
import { startTestPortico } from '../helpers/portico.js';
import { request } from '../helpers/http.js';
import { sparePort } from '../helpers/ports.js';
import { acceptWebSockets, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import type { Portico } from '../../src/main.js';

const running: Array<{ close?: () => Promise<void>; shutdown?: () => Promise<void> }> = [];
afterEach(async () => {
  for (const item of running.splice(0).reverse()) await (item.shutdown ?? item.close)?.call(item);
});

async function upstream(): Promise<TestUpstream> {
  const started = await startUpstream();
  running.push(started);
  return started;
}

it('forwards the bytes a body parser read, balanced over the upstreams, and does not replay them', async () => {
  const a = await upstream();
  const b = await upstream();
  const folder = pluginFolder();
  folder.write(
    `routes:\n  - name: api\n    upstream: [${a.url}, ${b.url}]\n    retry: { attempts: 2 }\n    middleware:\n      - express: { use: express, export: json }\n`,
  );
  const p: Portico = await startFromFolder(folder);
  running.push(p);
  const sent = JSON.stringify({ order: 42 });
  for (let i = 0; i < 2; i++) {
    const res = await request(`${p.proxyUrl}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: sent,
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ bodyBytes: Buffer.byteLength(sent) });
  }
  expect([a.received.length, b.received.length]).toEqual([1, 1]);

  await a.close(); // refused from now on: the read body cannot be replayed, so no retry
  const refused = await request(`${p.proxyUrl}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: sent,
  });
  expect(refused.status).toBe(502);
  expect(b.received.length).toBe(1);
});

it('passes a WebSocket upgrade through to a healthy upstream of the route', async () => {
  const up = await upstream();
  const ws = acceptWebSockets(up);
  const dead = `http://127.0.0.1:${await sparePort()}`;
  const p = await startTestPortico(
    `routes:\n  - name: ws\n    upstream: [${dead}, ${up.url}]\n    outlierDetection: { consecutiveFailures: 1 }\n`,
  );
  running.push(p);
  // The dead one fails a request first and is ejected; the upgrade then goes to the live one.
  expect((await request(`${p.proxyUrl}/x`)).status).toBe(502);
  const socket = net.connect(Number(new URL(p.proxyUrl).port), '127.0.0.1');
  await once(socket, 'connect');
  socket.write(
    'GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  const [head] = (await once(socket, 'data')) as [Buffer];
  expect(head.toString('latin1')).toMatch(/^HTTP\/1\.1 101/);
  socket.write('ping');
  const [echoed] = (await once(socket, 'data')) as [Buffer];
  expect(echoed.toString()).toBe('ping');
  expect(ws.upgrades).toHaveLength(1);
  socket.destroy();
});
