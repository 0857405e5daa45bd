/**
 * The body tee against real sockets, without the proxy around it: a server calls the mirror, then hands the request
 * to a consumer the way the forwarder does (its pipe attached a few promise hops later).
 */
import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { createMirror, type Mirror } from '../../src/proxy/mirror.js';
import { WorkerPool } from '../../src/pool/pool.js';
import { BASE } from '../helpers/pool.js';
import { call, startShadow, until } from '../helpers/mirror.js';

type Handler = (req: IncomingMessage, res: ServerResponse, mirror: Mirror) => void;

/** Reads the whole request like the forwarder's pipe does, after `hops` awaited promises. */
async function consumeLate(req: IncomingMessage, res: ServerResponse, hops = 3): Promise<void> {
  for (let i = 0; i < hops; i++) await Promise.resolve();
  let bytes = 0;
  req.pipe(new Writable({ write: (chunk: Buffer, _enc, done) => ((bytes += chunk.length), done()) }));
  await once(req, 'end');
  res.end(String(bytes));
}

describe('mirror body tee', () => {
  let shadow: Awaited<ReturnType<typeof startShadow>>;
  let server: http.Server;
  let url: string;
  let handler: Handler;
  let mirror: Mirror;
  let pool: WorkerPool;
  const agent = new http.Agent({ keepAlive: true });

  beforeAll(async () => {
    shadow = await startShadow((hit) => hit.res.end());
    server = http.createServer((req, res) => handler(req, res, mirror));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  beforeEach(() => {
    pool = new WorkerPool({ ...BASE, min: 0, max: 2, queue: 2 });
    mirror = createMirror(
      { upstream: new URL(shadow.url), sampleRatio: 1, maxBodySize: 64, timeout: 2000 },
      { route: 'tee', pool, agentFor: () => agent },
    );
    handler = (req, res, m) => {
      m(req);
      void consumeLate(req, res);
    };
  });
  afterEach(async () => {
    await pool.shutdown(500);
  });
  afterAll(async () => {
    agent.destroy();
    server.closeAllConnections();
    server.close();
    await shadow.close();
  });

  it('tees a body whose consumer attaches late, losing nothing on either side', async () => {
    const before = shadow.hits.length;
    const res = await call(`${url}/late`, { method: 'POST', body: ['12345', '67890', 'abc'] });
    expect(res.body).toBe('13');
    await until(() => shadow.hits.length === before + 1, 'the copy');
    expect(shadow.hits.at(-1)?.body.toString()).toBe('1234567890abc');
    await until(() => mirror.stats().answered === 1, 'the shadow answer');
  });

  it('leaves the stream untouched when content-length already exceeds maxBodySize', async () => {
    let flowing: boolean | null = false;
    handler = (req, res, m) => {
      m(req);
      flowing = req.readableFlowing;
      void consumeLate(req, res);
    };
    const res = await call(`${url}/big`, { method: 'POST', body: 'x'.repeat(65) });
    expect(res.body).toBe('65');
    expect(flowing).toBeNull();
    expect(mirror.stats()).toMatchObject({ sampled: 1, droppedTooLarge: 1, answered: 0 });
  });

  it('drops the copy when the client goes away mid-body', async () => {
    handler = (req, _res, m) => {
      m(req);
      req.resume();
    };
    const req = http.request(`${url}/abort`, { method: 'POST', headers: { 'content-length': '50' }, agent: false });
    req.on('error', () => undefined);
    req.write('only ten b');
    await until(() => mirror.stats().sampled === 1, 'the request to arrive');
    req.destroy();
    await until(() => mirror.stats().droppedIncomplete === 1, 'the copy to be dropped');
    expect(pool.stats().completed + pool.stats().failed).toBe(0);
  });

  it('drops the copy instead of sending a truncated body when the response ends before the body is read', async () => {
    handler = (req, res, m) => {
      m(req);
      req.once('data', () => res.end('early')); // Node then discards the rest of the body
      req.resume();
    };
    const req = http.request(`${url}/early`, { method: 'POST', headers: { 'content-length': '20' }, agent: false });
    req.write('first-ten!');
    const [response] = (await once(req, 'response')) as [IncomingMessage];
    response.resume();
    req.end('second-ten');
    await once(response, 'end');
    await until(() => mirror.stats().droppedIncomplete === 1, 'the copy to be dropped');
    expect(mirror.stats().answered).toBe(0);
  });

  it('counts copies refused by a full pool', async () => {
    pool = new WorkerPool({ ...BASE, min: 0, max: 1, queue: 0 });
    const hung: ServerResponse[] = [];
    const hanging = await startShadow((hit) => hung.push(hit.res));
    mirror = createMirror(
      { upstream: new URL(hanging.url), sampleRatio: 1, maxBodySize: 64, timeout: 2000 },
      { route: 'tee', pool, agentFor: () => agent },
    );
    await call(`${url}/one`);
    await until(() => hung.length === 1, 'the first copy to hang');
    await call(`${url}/two`);
    await until(() => mirror.stats().droppedQueueFull === 1, 'the second copy to be refused');
    expect(mirror.stats()).toMatchObject({ sampled: 2, answered: 0 });
    await hanging.close();
  });

  it('samples by sampleRatio', async () => {
    const draws = [0.2, 0.7];
    mirror = createMirror(
      { upstream: new URL(shadow.url), sampleRatio: 0.5, maxBodySize: 64, timeout: 2000 },
      { route: 'tee', pool, agentFor: () => agent, random: () => draws.shift() ?? 1 },
    );
    await call(`${url}/a`);
    await call(`${url}/b`);
    await until(() => mirror.stats().answered === 1, 'the sampled copy');
    expect(mirror.stats().sampled).toBe(1);
  });
});
