/**
 * The serving process as an operator runs it: signals, exit codes, the last log line. Portico runs in a child
 * process loading src/ through the TypeScript require hook (test/helpers/ts-child.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTsChild } from '../helpers/ts-child.js';
import { closedPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

const CHILD = `
require(src('run.ts')).runServer({ file: process.argv[2] }).catch((err) => {
  process.stderr.write(String(err && err.message) + '\\n');
  process.exit(1);
});
`;

/** A child compiles Portico's sources as it loads them: a few seconds idle, several times that on a busy machine. */
const CHILD_TIMEOUT_MS = 60_000;

let dir: string;
let childFile: string;
const upstreams: TestUpstream[] = [];
const children: ChildProcess[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'portico-process-'));
  childFile = writeTsChild(dir, CHILD);
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const up of upstreams.splice(0)) await up.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Running {
  readonly child: ChildProcess;
  readonly proxy: string;
  readonly admin: string;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
}

async function configFile(name: string, upstream: string): Promise<{ file: string; proxy: number; admin: number }> {
  const proxy = await closedPort();
  const admin = await closedPort();
  const file = join(dir, name);
  writeFileSync(
    file,
    `server:\n  listen: 127.0.0.1:${proxy}\n  admin: 127.0.0.1:${admin}\n  drainTimeout: 10s\nuserLookup:\n  enabled: false\nroutes:\n  - name: api\n    upstream: ${upstream}\n`,
  );
  return { file, proxy, admin };
}

async function startChild(file: string, proxy: number, admin: number): Promise<Running> {
  const child = fork(childFile, [file], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const running = {
    child,
    proxy: `http://127.0.0.1:${proxy}`,
    admin: `http://127.0.0.1:${admin}`,
    output: () => output,
    exited,
  };
  return running;
}

/** Waits for the child's readiness probe to answer 200 (it compiles Portico on start: seconds on a busy machine). */
async function ready(running: Running): Promise<void> {
  await waitFor(
    async () =>
      running.child.exitCode !== null ||
      (await request(`${running.admin}/readyz`).catch(() => undefined))?.status === 200,
    { timeoutMs: 30_000, intervalMs: 50, message: () => `the child to be ready: ${running.output()}` },
  );
  if (running.child.exitCode !== null) throw new Error(`child exited: ${running.output()}`);
}

describe('the serving process', () => {
  it(
    'drains on SIGTERM: the in-flight request finishes, the last log line is written, exit 0',
    async () => {
      let release: (() => void) | undefined;
      const up = await startUpstream((req, res) => {
        if (req.url === '/slow') release = () => res.end('done');
        else res.end('ok');
      });
      upstreams.push(up);
      const { file, proxy, admin } = await configFile('drain.yaml', up.url);
      const running = await startChild(file, proxy, admin);
      await ready(running);
      const slow = request(`${running.proxy}/slow`);
      await waitFor(() => release !== undefined, { message: 'the slow request to reach the upstream' });
      running.child.kill('SIGTERM');
      await waitFor(() => running.output().includes('"msg":"draining"'), { message: 'the drain to start' });
      release?.();
      const res = await slow;
      expect(res.status).toBe(200);
      expect(res.body).toBe('done');
      expect(await running.exited).toBe(0);
      const lines = running
        .output()
        .trim()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { msg: string });
      expect(lines.map((line) => line.msg)).toEqual(
        expect.arrayContaining(['portico listening', 'draining', 'portico stopped']),
      );
    },
    CHILD_TIMEOUT_MS,
  );

  it(
    'reloads on SIGHUP and keeps serving the old config when the new file is invalid',
    async () => {
      const a = await startUpstream((_req, res) => res.end('A'));
      const b = await startUpstream((_req, res) => res.end('B'));
      upstreams.push(a, b);
      const { file, proxy, admin } = await configFile('reload.yaml', a.url);
      const running = await startChild(file, proxy, admin);
      await ready(running);
      expect((await request(`${running.proxy}/`)).body).toBe('A');
      // The CLI wires its own logger's and tracer's drop counts into /metrics.
      const metrics = (await request(`${running.admin}/metrics`)).body;
      expect(metrics).toMatch(/^portico_trace_spans_dropped_total 0$/m);
      expect(metrics).toMatch(/^portico_log_lines_dropped_total 0$/m);

      writeFileSync(file, 'routes:\n  - name: api\n    upstream: not a url\n');
      running.child.kill('SIGHUP');
      await waitFor(() => running.output().includes('config reload rejected'), {
        message: 'the rejection to be logged',
      });
      expect(running.output()).toMatch(/reload\.yaml:3:15: routes\[0\]\.upstream: invalid URL/);
      expect((await request(`${running.proxy}/`)).body).toBe('A');

      writeFileSync(
        file,
        `server:\n  listen: 127.0.0.1:${proxy}\n  admin: 127.0.0.1:${admin}\nuserLookup:\n  enabled: false\nroutes:\n  - name: api\n    upstream: ${b.url}\n`,
      );
      running.child.kill('SIGHUP');
      await waitFor(() => running.output().includes('config reloaded'), { message: 'the reload' });
      expect((await request(`${running.proxy}/`)).body).toBe('B');
      running.child.kill('SIGTERM');
      expect(await running.exited).toBe(0);
    },
    CHILD_TIMEOUT_MS,
  );

  it(
    'refuses to start on an invalid file, naming file, line and key, with exit 1',
    async () => {
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, 'server:\n  listen: 127.0.0.1:0\nroutes:\n  - name: api\n    upstreem: http://127.0.0.1:1\n');
      const running = await startChild(file, 0, 0);
      expect(await running.exited).toBe(1);
      expect(running.output()).toContain(
        `${file}:5:5: routes[0].upstreem: unknown key "upstreem" (did you mean "upstream"?)`,
      );
    },
    CHILD_TIMEOUT_MS,
  );
});
