/**
 * No log line is lost when the process stops: a child process writes thousands of lines through the asynchronous
 * destination (stdout pipe or file), then gets SIGTERM or dies of an uncaught exception while most of them are
 * still buffered. The child loads src/ through a TypeScript require hook (test/helpers/ts-child.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTsChild } from '../helpers/ts-child.js';

const LINES = 20_000;
const dir = mkdtempSync(join(tmpdir(), 'portico-logging-flush-'));

const CHILD = `
const { createLogger, logFatalAndExit } = require(src('telemetry/logger.ts'));
const { telemetrySchema } = require(src('telemetry/config.ts'));
const [mode, destination] = process.argv.slice(2);
const log = createLogger(telemetrySchema.parse({ logs: { destination } }));
process.on('SIGTERM', () => {
  log.logger.info('shutting down');
  log.flush(10000).then((flushed) => process.exit(flushed ? 0 : 3));
});
process.on('uncaughtException', (err) => {
  logFatalAndExit(log, err, 'uncaughtException');
  process.send('fatal logged'); // the parent starts reading only now: the pipe is full, a write is in flight
});
if (mode === 'exit-at-once') {
  log.logger.info('only line');
  process.exit(0);
}
const count = mode === 'failing' ? 100 : ${LINES};
for (let i = 0; i < count; i++) log.logger.info({ i, pad: 'x'.repeat(200) }, 'line');
if (mode === 'fatal') setImmediate(() => { throw new Error('boom'); });
else if (mode === 'failing') log.flush(500).then((flushed) => process.exit(flushed ? 4 : 0));
else process.send('ready');
`;

let childFile: string;
beforeAll(() => {
  childFile = writeTsChild(dir, CHILD);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Outcome {
  readonly code: number | null;
  readonly lines: Array<Record<string, unknown>>;
}

type Mode = 'sigterm' | 'fatal' | 'exit-at-once' | 'failing';

async function run(mode: Mode, destination: string): Promise<Outcome & { stderr: string }> {
  const child: ChildProcess = fork(childFile, [mode, destination], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let stdout = '';
  let stderr = '';
  const read = (): void => {
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => (stdout += chunk));
  };
  // In fatal mode pino's fatal() would flush synchronously past the write in flight (reordering, or blocking on the
  // full pipe): reading starts once the child says the fatal line was logged.
  if (mode === 'fatal') child.once('message', read);
  else read();
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => (stderr += chunk));
  if (mode === 'sigterm') {
    child.once('message', () => child.kill('SIGTERM'));
  }
  const exited = once(child, 'exit') as Promise<[number | null]>;
  // A bound on a hung child, below the test's timeout: the child compiles Portico as it loads (seconds; more when busy).
  const deadline = setTimeout(() => child.kill('SIGKILL'), 75_000);
  const [code] = await exited;
  clearTimeout(deadline);
  if (child.stdout && !child.stdout.readableEnded) await once(child.stdout, 'end');
  const text =
    destination === 'stdout' ? stdout : destination.startsWith('/dev/') ? '' : readFileSync(destination, 'utf8');
  return {
    code,
    stderr,
    lines: text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

function expectAllInOrder(lines: Array<Record<string, unknown>>): void {
  const numbered = lines.filter((line) => line.msg === 'line').map((line) => line.i);
  expect(numbered).toHaveLength(LINES);
  expect(numbered.every((value, index) => value === index)).toBe(true);
}

describe('process logger flush', () => {
  it('writes every line to a stdout pipe before exiting on SIGTERM', async () => {
    const { code, lines } = await run('sigterm', 'stdout');
    expect(code).toBe(0);
    expectAllInOrder(lines);
    expect(lines.at(-1)?.msg).toBe('shutting down');
  }, 90_000);

  it('writes every line to a file before exiting on SIGTERM', async () => {
    const file = join(dir, 'logs', 'sigterm.log');
    const { code, lines } = await run('sigterm', file);
    expect(code).toBe(0);
    expectAllInOrder(lines);
    expect(lines.at(-1)?.msg).toBe('shutting down');
  }, 90_000);

  it('writes every line and the fatal error before exiting on an uncaught exception', async () => {
    const { code, lines } = await run('fatal', 'stdout');
    expect(code).toBe(1);
    expectAllInOrder(lines);
    const fatal = lines.at(-1);
    expect(fatal).toMatchObject({ level: 60, origin: 'uncaughtException', msg: 'fatal error, exiting' });
    expect((fatal?.err as { message?: string } | undefined)?.message).toBe('boom');
  }, 90_000);

  it('keeps a line logged just before an immediate exit to a new file (no "sonic boom is not ready yet")', async () => {
    const file = join(dir, 'at-once.log');
    const { code, lines, stderr } = await run('exit-at-once', file);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(lines.map((line) => line.msg)).toEqual(['only line']);
  }, 90_000);

  // /dev/full fails every write with ENOSPC; sonic-boom's own flushSync would retry forever in pino's exit hook.
  (process.platform === 'linux' ? it : it.skip)(
    'exits promptly when the destination fails, saying so once on stderr',
    async () => {
      // A child stuck retrying is killed at run()'s deadline: its exit code is then null, not 0. Its own start
      // (compiling Portico) dominates the wall time, so no wall-clock bound here.
      const { code, stderr } = await run('failing', '/dev/full');
      expect(code).toBe(0);
      expect(stderr.match(/log destination failed: ENOSPC/g)).toHaveLength(1);
    },
    90_000,
  );
});
