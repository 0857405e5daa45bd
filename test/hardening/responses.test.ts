/**
 * What Portico relays and records about upstream responses that go wrong: the status line of a problem it answers in
 * place of a broken response, headers a 204 must not carry, and the bytes the request log says were sent when the
 * client went away mid-body.
 */
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import pino from 'pino';
import { rawExchange } from '../helpers/http.js';
import { portico, settlesTo, stopAll, upstream } from './support.js';

afterEach(stopAll);

/** A raw TCP upstream that answers every request (once its head is in) with `answer`. */
async function rawUpstream(answer: string): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', () => socket.write(answer));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

const GET = 'GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';

describe('relayed status lines and headers', () => {
  it('answers a malformed chunked body with "502 Bad Gateway", never the reason phrase the upstream sent', async () => {
    const up = await rawUpstream('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nnot a chunk\r\n');
    try {
      const p = await portico(`routes:\n  - name: api\n    upstream: ${up.url}\n`);
      const { text } = await rawExchange(p.port, GET);
      expect(text).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
      expect(text).toContain('application/problem+json');
    } finally {
      await up.close();
    }
  });

  it('drops the Content-Length an upstream sent with a 204', async () => {
    const up = await rawUpstream('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nX-Kept: yes\r\n\r\n');
    try {
      const p = await portico(`routes:\n  - name: api\n    upstream: ${up.url}\n`);
      const { text } = await rawExchange(p.port, GET);
      const head = text.split('\r\n\r\n')[0] ?? '';
      expect(head).toMatch(/^HTTP\/1\.1 204 No Content\r\n/);
      expect(head).toMatch(/\r\nx-kept: yes/i);
      expect(head).not.toMatch(/content-length/i);
    } finally {
      await up.close();
    }
  });
});

describe('the request log of an aborted download', () => {
  it('counts in bytesOut only what was sent, not the declared Content-Length', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino(
      { level: 'info' },
      { write: (text: string) => void lines.push(JSON.parse(text) as Record<string, unknown>) },
    );
    const declared = 10 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 120);
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'content-length': declared });
      const timer = setInterval(() => res.write(chunk), 10);
      res.on('close', () => clearInterval(timer));
    });
    const p = await portico(`middleware: [logging]\nroutes:\n  - name: api\n    upstream: ${up.url}\n`, { logger });
    const got = await new Promise<number>((resolve, reject) => {
      const req = http.get(`${p.portico.proxyUrl}/download`, { agent: false }, (res) => {
        let bytes = 0;
        res.on('data', (data: Buffer) => {
          bytes += data.length;
          if (bytes >= 4 * chunk.length) {
            req.destroy();
            resolve(bytes);
          }
        });
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    });
    const aborted = 'request aborted by the client';
    await settlesTo(() => lines.some((line) => line.msg === aborted), true, 'the aborted request line');
    const line = lines.find((entry) => entry.msg === aborted) as { bytesOut: number; status: number; aborted: string };
    expect(line.status).toBe(200); // sent before the client left
    expect(line.aborted).toBe('client_closed');
    expect(line.bytesOut).toBeGreaterThanOrEqual(got);
    expect(line.bytesOut).toBeLessThan(declared / 2);
  });
});
