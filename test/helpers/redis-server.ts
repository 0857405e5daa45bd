/**
 * A throwaway redis-server on a spare loopback port, started as a child process and stopped by its pid, so a test
 * can kill Redis for real and bring it back on the same port. No persistence: a restart starts empty.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { sparePort } from './ports.js';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** SIGKILL, as a crash would; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts a fresh process on the same port; resolves once it accepts connections. */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: a hung Redis that keeps its sockets open but never answers. */
  pause(): void;
  resume(): void;
}

const READY = 'Ready to accept connections';

/** How long a redis-server may take to be ready (ms): tens of ms idle; a busy machine can stretch it to seconds. */
const LAUNCH_TIMEOUT_MS = 20_000;

export interface LaunchOptions {
  readonly timeoutMs?: number;
  /** Extra arguments, e.g. cluster mode or `--sentinel`. */
  readonly args?: readonly string[];
  /** A config file (Sentinel needs a writable one); passed first, as redis-server wants it. */
  readonly configFile?: string;
  /** The log line that means ready (Sentinel never prints the server's). */
  readonly ready?: string;
}

/** Starts redis-server on `port`; resolves once it is ready. */
export async function launch(port: number, options: LaunchOptions = {}): Promise<ChildProcess> {
  const { timeoutMs = LAUNCH_TIMEOUT_MS, args = [], configFile, ready = READY } = options;
  const base = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'no',
    ...args,
  ];
  const child = spawn('redis-server', configFile === undefined ? base : [configFile, ...base], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`redis-server on ${port} not ready in ${timeoutMs}ms: ${output.slice(-500)}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes(ready)) {
        clearTimeout(timer);
        resolve();
      }
    };
    const fail = (err: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) =>
      fail(new Error(`redis-server on ${port} exited with ${String(code)}: ${output.slice(-500)}`)),
    );
  });
  child.removeAllListeners('exit');
  return child;
}

/** SIGKILL by pid; resolves once the process is gone. */
export async function stop(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** Starts redis-server on `port` (default: a spare one). Call `kill()` in afterAll/afterEach. */
export async function startRedisServer(wanted?: number): Promise<RedisServer> {
  const port = wanted ?? (await sparePort());
  let child: ChildProcess | undefined = await launch(port);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async kill() {
      const current = child;
      child = undefined;
      await stop(current);
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    async restart() {
      await stop(child);
      child = await launch(port);
    },
  };
}
