/**
 * Slow clients: slowloris (headers that never finish) must be cut by `headersTimeout`, which Node only enforces
 * every `connectionsCheckingInterval`; slow-POST (a body that stalls) by `bodyIdleTimeout`. Neither may cost a
 * well-behaved client its service, nor leave a socket behind on either side.
 */
import http from 'node:http';
import { request } from '../helpers/http.js';
import { connections, portico, rawSocket, serverSection, settlesTo, stopAll, upstream, within } from './support.js';

afterEach(stopAll);

/**
 * The pace of a slow client: the behaviour under test (time between bytes), not a wait for an event. Bounds on
 * when Portico acts are generous (CLOSE_BOUND_MS): a missing timeout never closes the socket at all.
 */
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const CLOSE_BOUND_MS = 10_000;

describe('slowloris', () => {
  it('closes connections whose headers trickle in, within headersTimeout + check interval, while serving others', async () => {
    const up = await upstream();
    const p = await portico(
      `${serverSection('  headersTimeout: 500ms\n  connectionsCheckingInterval: 100ms\n')}routes:\n  - name: api\n    upstream: ${up.url}\n`,
    );
    const attackers = await Promise.all(Array.from({ length: 20 }, () => rawSocket(p.port)));
    const started = Date.now();
    // Long enough to outlast CLOSE_BOUND_MS at one byte per 50 ms: the attack never ends on its own.
    const header = 'X-Slow: ' + 'a'.repeat(400);
    let stopped = false;
    const trickle = (async () => {
      for (const { socket } of attackers) socket.write('GET /x HTTP/1.1\r\nHost: x\r\n');
      for (let i = 0; i < header.length && !stopped; i++) {
        for (const { socket } of attackers) if (!socket.destroyed) socket.write(header[i] as string);
        await pause(50);
      }
    })();
    // Service continues for everyone else during the attack.
    const during = await request(`${p.portico.proxyUrl}/ok`);
    expect(during.status).toBe(200);
    const allClosed = await within(Promise.all(attackers.map((a) => a.closed)), CLOSE_BOUND_MS);
    stopped = true;
    await trickle;
    expect(allClosed).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    for (const attacker of attackers) expect(attacker.text()).toMatch(/^$|^HTTP\/1\.1 408 /);
    expect(up.received.map((r) => r.url)).toEqual(['/ok']);
    await settlesTo(() => connections(p.server()), 0, 'Portico connections');
  });

  it('also closes a connection that sends nothing at all after connecting', async () => {
    const up = await upstream();
    const p = await portico(
      `${serverSection('  headersTimeout: 500ms\n  connectionsCheckingInterval: 100ms\n')}routes:\n  - name: api\n    upstream: ${up.url}\n`,
    );
    const idle = await rawSocket(p.port);
    idle.socket.write('G');
    expect(await within(idle.closed, CLOSE_BOUND_MS)).toBe(true); // Node's own default would be 60 s
  });
});

describe('slow request bodies (bodyIdleTimeout: 300ms)', () => {
  /** `minRate` 50 bytes/s lets the 100 bytes/s trickle below through; the rate test sets its own. */
  async function setup(minRate = 50) {
    const outcomes: string[] = [];
    const up = await upstream();
    up.server.removeAllListeners('request');
    up.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      let bytes = 0;
      if (req.url === '/early') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('answering before the body is in\n');
      }
      if (req.url === '/backpressure') {
        // An upstream that stops reading for three idle timeouts: the behaviour under test, not a wait.
        req.pause();
        setTimeout(() => req.resume(), 900);
      }
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      req.on('end', () => {
        outcomes.push(`${req.url} complete ${bytes}`);
        res.end(`got ${bytes}`);
      });
      req.on('close', () => {
        if (!req.complete) outcomes.push(`${req.url} aborted`);
      });
    });
    const p = await portico(
      `${serverSection(`  bodyIdleTimeout: 300ms\n  bodyMinRate: ${minRate}\n`)}routes:\n  - name: api\n    timeout: 30s\n    upstream: ${up.url}\n`,
    );
    return { up, p, outcomes };
  }

  it.each([
    ['Content-Length', 'Content-Length: 100\r\n\r\n0123456789'],
    ['chunked', 'Transfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n'],
  ])(
    'answers 408 problem+json to a %s body that stalls, closes, and aborts the upstream request',
    async (_name, rest) => {
      const { up, p, outcomes } = await setup();
      const client = await rawSocket(p.port);
      const started = Date.now();
      client.socket.write(`POST /stall HTTP/1.1\r\nHost: x\r\n${rest}`);
      expect(await within(client.closed, CLOSE_BOUND_MS)).toBe(true);
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(290);
      expect(elapsed).toBeLessThan(CLOSE_BOUND_MS); // the route timeout is 30s: the idle timeout did this
      expect(client.text()).toMatch(/^HTTP\/1\.1 408 /);
      expect(client.text()).toContain('application/problem+json');
      expect(client.text()).toContain('"code":"PORTICO_REQUEST_TIMEOUT"');
      await settlesTo(() => outcomes.join(), '/stall aborted', 'upstream request aborted');
      await settlesTo(() => connections(up.server), 0, 'upstream connections');
      await settlesTo(() => connections(p.server()), 0, 'Portico connections');
    },
  );

  it('lets a body that trickles but keeps moving through whole', async () => {
    const { p, outcomes } = await setup();
    const client = await rawSocket(p.port);
    client.socket.write('POST /trickle HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 100\r\n\r\n');
    // 10 pieces 60 ms apart: 600 ms in all (twice the idle timeout), each gap a fifth of it.
    for (let i = 0; i < 10; i++) {
      await pause(60);
      client.socket.write('0123456789');
    }
    await within(client.closed, CLOSE_BOUND_MS);
    expect(client.text()).toMatch(/^HTTP\/1\.1 200 [\s\S]*got 100$/);
    expect(outcomes).toEqual(['/trickle complete 100']);
  });

  it('answers 408 to a body that keeps moving but stays below bodyMinRate, long before requestTimeout', async () => {
    const { p, outcomes } = await setup(1000);
    const client = await rawSocket(p.port);
    const started = Date.now();
    client.socket.write('POST /crawl HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
    // 10 bytes every 100ms (100 bytes/s): never idle for 300ms, a tenth of the rate asked.
    const timer = setInterval(() => client.socket.write('0123456789'), 100);
    const closed = await within(client.closed, 3000);
    clearInterval(timer);
    expect(closed).toBe(true);
    // Allowed: 300ms + 1ms per byte received (bodyMinRate 1000): about 330ms at 100 bytes/s, plus one check period.
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(client.text()).toMatch(/^HTTP\/1\.1 408 /);
    expect(client.text()).toContain('slower than 1000 bytes/s');
    await settlesTo(() => outcomes.join(), '/crawl aborted', 'upstream request aborted', 2000);
  });

  it('does not blame the client when the upstream is the one reading slowly', async () => {
    const { p, outcomes } = await setup();
    const body = Buffer.alloc(8 * 1024 * 1024, 97);
    const res = await request(`${p.portico.proxyUrl}/backpressure`, { method: 'POST', body });
    expect(res.status).toBe(200);
    expect(outcomes).toEqual([`/backpressure complete ${body.length}`]);
  });

  it('destroys the connection when the body stalls after the answer has started', async () => {
    const { p, outcomes } = await setup();
    const client = await rawSocket(p.port);
    client.socket.write('POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789');
    expect(await within(client.closed, CLOSE_BOUND_MS)).toBe(true);
    expect(client.text()).toMatch(/^HTTP\/1\.1 200 /);
    expect(client.text()).toContain('answering before the body is in');
    expect(client.text()).not.toMatch(/\r\n0\r\n\r\n$/); // no chunked terminator: the client can tell it was cut
    await settlesTo(() => outcomes.join(), '/early aborted', 'upstream request aborted');
  });
});
