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

/** Sends raw bytes on a fresh socket and collects everything until the server closes or `untilMs` passes. */
export async function rawExchange(
  port: number,
  payload: string,
  untilMs = 2000,
): Promise<{ text: string; closed: boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  socket.write(payload);
  const closed = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), untilMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    socket.on('error', () => undefined);
  });
  socket.destroy();
  return { text, closed };
}

/** The suite's polling helper, re-exported here for the tests that import it from this module. */
export { waitFor } from './wait.js';
