/**
 * Size limits at the edge: oversized headers (431 from the parser, before any routing), and request bodies over a
 * route's `maxBodySize` (413), declared by Content-Length or discovered while streaming a chunked body. A body under
 * the limit must still arrive whole: the limit watches the stream, it must not eat it.
 */
import http from 'node:http';
import { once } from 'node:events';
import { rawExchange } from '../helpers/http.js';
import { connections, portico, rawSocket, settlesTo, stopAll, upstream } from './support.js';

afterEach(stopAll);

/** An upstream that records each request's fate: completed with n bytes, or aborted. */
async function recordingUpstream() {
  const seen: Array<{ url: string; bytes: number; outcome: 'complete' | 'aborted' | 'pending' }> = [];
  const up = await upstream();
  up.server.removeAllListeners('request');
  up.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const entry = { url: req.url ?? '', bytes: 0, outcome: 'pending' as 'complete' | 'aborted' | 'pending' };
    seen.push(entry);
    req.on('data', (chunk: Buffer) => {
      entry.bytes += chunk.length;
    });
    req.on('end', () => {
      entry.outcome = 'complete';
      res.end(`got ${entry.bytes}`);
    });
    req.on('close', () => {
      if (entry.outcome === 'pending') entry.outcome = 'aborted';
    });
  });
  return { up, seen };
}

describe('oversized headers', () => {
  it('answers 431 and closes for one huge header or many small ones, and nothing reaches the upstream', async () => {
    const { up, seen } = await recordingUpstream();
    const p = await portico(`routes:\n  - name: api\n    upstream: ${up.url}\n`);
    const huge = `GET /x HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`;
    const many = `GET /x HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 1200 }, (_, i) => `X-H${i}: 0123456789\r\n`).join('')}\r\n`;
    const longUrl = `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`;
    for (const payload of [huge, many, longUrl]) {
      const res = await rawExchange(p.port, payload);
      expect([payload.length, res.text.slice(0, 12)]).toEqual([payload.length, 'HTTP/1.1 431']);
      expect(res.text).toContain('application/problem+json');
      expect(res.closed).toBe(true);
    }
    expect(seen).toHaveLength(0);
    const ok = await rawExchange(p.port, 'GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(ok.text).toMatch(/^HTTP\/1\.1 200 /);
  });
});

describe('oversized bodies (route maxBodySize: 1000)', () => {
  const uploadRoute = async () => {
    const { up, seen } = await recordingUpstream();
    const p = await portico(
      `routes:\n  - name: upload\n    maxBodySize: 1000\n    timeout: 10s\n    upstream: ${up.url}\n`,
    );
    return { up, seen, p };
  };

  it('refuses a declared Content-Length over the limit with 413 before contacting the upstream', async () => {
    const { seen, p } = await uploadRoute();
    const res = await rawExchange(
      p.port,
      `POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n${'b'.repeat(1001)}`,
    );
    expect(res.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(res.text).toContain('"code":"PORTICO_PAYLOAD_TOO_LARGE"');
    expect(res.closed).toBe(true);
    expect(seen).toHaveLength(0);
  });

  it('forwards a chunked body under the limit whole', async () => {
    const { seen, p } = await uploadRoute();
    const res = await rawExchange(
      p.port,
      'POST /u HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n',
    );
    expect(res.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(res.text).toContain('got 8');
    expect(seen).toEqual([{ url: '/u', bytes: 8, outcome: 'complete' }]);
  });

  it('forwards a chunked body sent in slow pieces under the limit whole', async () => {
    const { seen, p } = await uploadRoute();
    const { socket, text, closed } = await rawSocket(p.port);
    socket.write('POST /u HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n');
    for (let i = 1; i <= 5; i++) {
      socket.write('64\r\n' + 'c'.repeat(100) + '\r\n');
      // Each piece reaches the upstream before the next is sent: separate reads at every hop.
      await settlesTo(() => seen[0]?.bytes ?? 0, 100 * i, `piece ${i} at the upstream`);
    }
    socket.write('0\r\n\r\n');
    await closed;
    expect(text()).toMatch(/^HTTP\/1\.1 200 [\s\S]*got 500$/);
    expect(seen).toEqual([{ url: '/u', bytes: 500, outcome: 'complete' }]);
  });

  it('answers 413 to a chunked body once it passes the limit, and aborts the upstream request at once', async () => {
    const { up, seen, p } = await uploadRoute();
    const { socket, text, closed } = await rawSocket(p.port);
    socket.write('POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
    socket.write('1f4\r\n' + 'd'.repeat(500) + '\r\n');
    await settlesTo(() => seen.length, 1, 'upstream request to start');
    socket.write('258\r\n' + 'd'.repeat(600) + '\r\n'); // 1100 bytes: over the limit
    await closed;
    expect(text()).toMatch(/^HTTP\/1\.1 413 /);
    expect(text()).toContain('"code":"PORTICO_PAYLOAD_TOO_LARGE"');
    // The route timeout is 10s: the upstream request must be aborted by the refusal, not by the timeout.
    await settlesTo(() => seen[0]?.outcome ?? 'none', 'aborted', 'upstream request aborted');
    // The chunk that crossed the limit may already be on its way (at most one socket read); the upstream never
    // sees the body complete.
    expect(seen[0]?.bytes).toBeLessThan(1000 + 65_536);
    await settlesTo(() => connections(up.server), 0, 'upstream connections');
  });

  it('lets a Node client read the 413 as a response, not a reset', async () => {
    const { p } = await uploadRoute();
    const req = http.request(`${p.portico.proxyUrl}/u`, {
      method: 'POST',
      agent: false,
      headers: { 'content-length': '5000' },
    });
    req.on('error', () => undefined);
    req.end('x'.repeat(5000));
    const [res] = (await once(req, 'response')) as [http.IncomingMessage];
    expect(res.statusCode).toBe(413);
    res.resume();
  });
});
