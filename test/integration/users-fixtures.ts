/**
 * Fixtures for the user-lookup integration tests: unique PostgreSQL schemas, a private redis-server child process
 * (killed by its pid), a TCP proxy that can be cut, a listener that never answers, recording metrics and a log
 * capture. Everything binds 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import type { Redis } from 'ioredis';
import pg from 'pg';
import pino from 'pino';
import { noopMetrics, type CacheEvent, type Metrics } from '../../src/admin/metrics.js';
import { waitFor } from '../helpers/http.js';

export const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** A name no other test file or run uses: letters, digits and _ only (valid SQL identifier, Redis key part). */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
}

export async function sql(text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await client.query(text, params);
  } finally {
    await client.end();
  }
}

export async function dropSchema(schema: string): Promise<void> {
  await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

export async function sparePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** SIGKILL by pid; resolves when the process exited. */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
}

async function spawnRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitFor(
    () => output.includes('Ready to accept connections') || child.exitCode !== null,
    10_000,
    'redis-server to start',
  );
  if (child.exitCode !== null) throw new Error(`redis-server exited: ${output}`);
  return child;
}

export async function startRedisServer(): Promise<RedisServer> {
  const port = await sparePort();
  let child = await spawnRedis(port);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      process.kill(child.pid as number, 'SIGKILL');
      await exited;
    },
    async restart() {
      child = await spawnRedis(port);
    },
  };
}

/** Forwards to `targetPort`; `cut()` refuses new connections and resets the open ones (a dead database host). */
export async function startTcpProxy(targetPort: number): Promise<{ port: number; cut(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    async cut() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.resetAndDestroy();
      await closed;
    },
  };
}

/** Accepts connections and never says a word: a hung database host. */
export async function startBlackHole(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Holds work at a point until released: `hold()` arms it and resolves once some work reached `pass()`; that work
 * (and any later) waits in `pass()` until `release()`. Used to make a database answer late after its read.
 */
export class Gate {
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  private arrived: (() => void) | undefined;

  hold(): Promise<void> {
    this.gate = new Promise((resolve) => (this.open = resolve));
    return new Promise((resolve) => (this.arrived = resolve));
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  async pass(): Promise<void> {
    this.arrived?.();
    if (this.gate) await this.gate;
  }
}

/** Deletes the keys a test wrote under its own prefix. */
export async function clearKeys(client: Redis, prefix: string): Promise<void> {
  const keys = await client.keys(`${prefix}*`);
  if (keys.length > 0) await client.del(...keys);
}

export function recordingMetrics(): Metrics & { events: CacheEvent[]; queries: boolean[] } {
  const events: CacheEvent[] = [];
  const queries: boolean[] = [];
  return {
    ...noopMetrics,
    events,
    queries,
    cache: (event) => events.push(event),
    dbQuery: (_seconds, ok) => queries.push(ok),
  };
}

export function capturedLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logger, lines };
}
