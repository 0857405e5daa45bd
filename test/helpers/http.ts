/** Small raw-HTTP helpers for what supertest cannot express (aborts, raw sockets, streaming bodies). */
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';

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

/** The suite's polling helper, re-exported here for the tests that import it from this module. */
export { waitFor } from './wait.js';
