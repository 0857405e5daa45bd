/**
 * Upstreams a resilience test steers: each answers `/health` and every other path by its mode, counts what it got,
 * can hold requests until released, and can die (its port then refuses connections) and come back on the same port.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import type { Portico } from '../../src/main.js';
import { startTestPortico } from './portico.js';

export type Mode =
  | { readonly kind: 'ok' }
  | { readonly kind: 'status'; readonly status: number }
  | { readonly kind: 'slow'; readonly ms: number }
  | { readonly kind: 'hold' }
  /** Reads the request body, then closes the connection without an answer. */
  | { readonly kind: 'reset' };

export interface Member {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  /** Requests other than health checks, by arrival. */
  readonly hits: Array<{ method: string; url: string; bodyBytes: number }>;
  /** Health checks received. */
  readonly checks: () => number;
  mode: Mode;
  /** `/health` answers 200 when true, 500 when false. */
  healthy: boolean;
  /** Requests held (mode `hold`) waiting for `release`. */
  readonly held: () => number;
  /** Answers every held request with `status`. */
  release(status?: number): void;
  /** Stops listening and drops every connection: the port refuses until `revive`. */
  kill(): Promise<void>;
  revive(): Promise<void>;
  close(): Promise<void>;
}

export async function startMember(name: string): Promise<Member> {
  const hits: Member['hits'] = [];
  const held: ServerResponse[] = [];
  const sockets = new Set<Socket>();
  let checks = 0;
  let server: http.Server;
  let port = 0;
  const handle = (member: Member, req: IncomingMessage, res: ServerResponse): void => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      if (req.url === '/health') {
        checks++;
        res.writeHead(member.healthy ? 200 : 500, { 'content-length': '0' }).end();
        return;
      }
      hits.push({ method: req.method ?? '', url: req.url ?? '', bodyBytes: bytes });
      const mode = member.mode;
      const answer = (status: number): void => {
        const body = JSON.stringify({ name, bodyBytes: bytes });
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      };
      if (mode.kind === 'ok') answer(200);
      else if (mode.kind === 'status') answer(mode.status);
      else if (mode.kind === 'slow') setTimeout(() => answer(200), mode.ms);
      else if (mode.kind === 'hold') held.push(res);
      else req.socket.destroy();
    });
  };
  const listen = async (member: Member): Promise<void> => {
    server = http.createServer((req, res) => handle(member, req, res));
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  };
  const stop = async (): Promise<void> => {
    if (!server.listening) return;
    for (const socket of sockets) socket.destroy();
    server.close();
    await once(server, 'close').catch(() => undefined);
  };
  const member: Member = {
    name,
    get port() {
      return port;
    },
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    hits,
    checks: () => checks,
    mode: { kind: 'ok' },
    healthy: true,
    held: () => held.length,
    release(status = 200) {
      for (const res of held.splice(0)) {
        if (res.destroyed) continue;
        const body = JSON.stringify({ name });
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      }
    },
    kill: stop,
    revive: () => listen(member),
    async close() {
      member.release(503);
      await stop();
    },
  };
  await listen(member);
  return member;
}

export async function startFleet(count: number): Promise<Member[]> {
  const names = ['a', 'b', 'c', 'd', 'e'];
  return Promise.all(Array.from({ length: count }, (_, i) => startMember(names[i] ?? `m${i}`)));
}

/** Counts requests per member name from the answers' bodies. */
export function byName(members: readonly Member[]): Record<string, number> {
  return Object.fromEntries(members.map((member) => [member.name, member.hits.length]));
}

type Closable = { close?: () => Promise<void>; shutdown?: () => Promise<void> };

/**
 * For one test file: starts fleets and Porticos and registers an `afterEach` that closes everything started (and
 * anything else `track`ed), newest first, so a failing test leaves no listener behind.
 */
export function closedAfterEach(): {
  fleet: (count: number) => Promise<Member[]>;
  portico: (yaml: string) => Promise<Portico>;
  track: (item: Closable) => void;
} {
  const running: Closable[] = [];
  afterEach(async () => {
    for (const item of running.splice(0).reverse()) await (item.shutdown ?? item.close)?.call(item);
  });
  return {
    fleet: async (count) => {
      const members = await startFleet(count);
      running.push(...members);
      return members;
    },
    portico: async (yaml) => {
      const started = await startTestPortico(yaml);
      running.push(started);
      return started;
    },
    track: (item) => void running.push(item),
  };
}
