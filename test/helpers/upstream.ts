/**
 * Real upstream servers for tests, on 127.0.0.1 port 0. Each records what it received so a test can assert on
 * the forwarded request, not just the response.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { createHash } from 'node:crypto';

export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly bodyBytes: number;
}

export interface TestUpstream {
  readonly url: string;
  readonly port: number;
  readonly server: http.Server;
  readonly received: Received[];
  /** Requests whose response was cut because the client (Portico) went away. */
  readonly aborted: Received[];
  close(): Promise<void>;
}

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

const echo: UpstreamHandler = (req, res, body) => {
  const text = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyBytes: body.length });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

/**
 * A stale keep-alive upstream: the second request on each kept-alive socket meets a dead connection (the socket is
 * destroyed before any answer), as when the upstream dropped an idle connection the client's pool still holds.
 * Other requests go to `handler`.
 */
export function staleOnSecondRequest(handler: UpstreamHandler = echo): UpstreamHandler {
  const perSocket = new WeakMap<Socket, number>();
  return (req, res, body) => {
    const count = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, count);
    if (count === 2) req.socket.destroy();
    else handler(req, res, body);
  };
}

/** Starts an upstream. The default handler echoes the request as JSON. Bodies are counted, not kept. */
export async function startUpstream(
  handler: UpstreamHandler = echo,
  options: {
    keepAliveTimeout?: number;
    /** A given port (one that was down), else an ephemeral one. */ port?: number;
  } = {},
): Promise<TestUpstream> {
  const received: Received[] = [];
  const aborted: Received[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    let bytes = 0;
    const head: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= 1_048_576) head.push(chunk);
    });
    req.on('end', () => {
      const record = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyBytes: bytes };
      received.push(record);
      res.on('close', () => {
        if (!res.writableFinished) aborted.push(record);
      });
      handler(req, res, Buffer.concat(head));
    });
  });
  if (options.keepAliveTimeout !== undefined) server.keepAliveTimeout = options.keepAliveTimeout;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    received,
    aborted,
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close').catch(() => undefined);
    },
  };
}

/** Adds a raw-echo WebSocket handshake to an upstream: after 101, every byte is sent back. */
export function acceptWebSockets(upstream: TestUpstream): { upgrades: IncomingMessage[] } {
  const upgrades: IncomingMessage[] = [];
  upstream.server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    upgrades.push(req);
    const key = String(req.headers['sec-websocket-key'] ?? '');
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.on('error', () => socket.destroy());
  });
  return { upgrades };
}

/** A port with nothing listening on it (bound then released): the suite's `sparePort`. */
export { sparePort as closedPort } from './ports.js';
