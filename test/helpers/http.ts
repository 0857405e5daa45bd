/** Small raw-HTTP helpers for what supertest cannot express (aborts, raw sockets, streaming bodies). */
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { waitFor } from './wait.js';

export interface RawResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export function request(
  url: string,
  options: http.RequestOptions & { body?: string | Buffer } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent: false, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('response aborted')));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

export interface RawSocket {
  readonly socket: net.Socket;
  /** Everything received so far, as latin1 (bytes kept one to one). */
  readonly text: () => string;
  /** Settles when the socket closed, whoever closed it. */
  readonly closed: Promise<void>;
}

/** An open raw TCP connection to 127.0.0.1:`port` that collects what comes back; errors end in `closed`. */
export async function openRawSocket(port: number): Promise<RawSocket> {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await Promise.race([once(socket, 'connect'), closed.then(() => Promise.reject(new Error(`connect to ${port}`)))]);
  return { socket, text: () => text, closed };
}

/**
 * Sends raw bytes on a fresh socket and collects everything until the server closes or `untilMs` passes. The
 * bound only ends a test of a server that wrongly keeps the socket open; a closing server ends the wait first.
 */
export async function rawExchange(
  port: number,
  payload: string,
  untilMs = 10_000,
): Promise<{ text: string; closed: boolean }> {
  const raw = await openRawSocket(port);
  raw.socket.write(payload);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), untilMs)));
  const closed = await Promise.race([raw.closed.then(() => true), timedOut]);
  clearTimeout(timer);
  raw.socket.destroy();
  return { text: raw.text(), closed };
}

/** A WebSocket upgrade's request headers (RFC 6455's sample key), ending in CRLF: add the blank line or a body. */
export const WEBSOCKET_HANDSHAKE =
  'Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';

/** A raw socket that asked for a WebSocket upgrade of `path` and got its 101. */
export async function openWebSocket(port: number, path: string): Promise<RawSocket> {
  const ws = await openRawSocket(port);
  ws.socket.write(`GET ${path} HTTP/1.1\r\n${WEBSOCKET_HANDSHAKE}\r\n`);
  await waitFor(() => ws.text().startsWith('HTTP/1.1 101'), { message: `the 101 for ${path}` });
  return ws;
}

/** A request its client abandons mid-exchange: sent, seen by the upstream (`arrived`), then its socket destroyed. */
export async function abandonRequest(url: string, arrived: () => boolean): Promise<void> {
  const gone = http.get(url);
  gone.on('error', () => undefined);
  await waitFor(arrived, { message: `the upstream got ${url}` });
  gone.destroy();
}

/** The suite's polling helper, re-exported here for the tests that import it from this module. */
export { waitFor } from './wait.js';
