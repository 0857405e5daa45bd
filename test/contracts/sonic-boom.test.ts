/**
 * sonic-boom (pino's asynchronous destination), as src/telemetry/logger.ts uses it: its private write state, the
 * `flushSync` property pino calls, and the `drop` event.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { assumption } from './support';

type Destination = ReturnType<typeof pino.destination>;
interface SonicState {
  readonly _len: number;
  readonly _writing: boolean;
  readonly fd: number;
  readonly destroyed: boolean;
}

const dir = mkdtempSync(join(tmpdir(), 'portico-contracts-'));
const opened: Destination[] = [];
afterAll(() => {
  for (const destination of opened) destination.destroy();
  rmSync(dir, { recursive: true, force: true });
});

function destination(options: { minLength: number; maxLength?: number }): { dest: Destination; file: string } {
  const file = join(dir, `log-${opened.length}.txt`);
  const dest = pino.destination({ dest: openSync(file, 'a'), sync: false, ...options });
  opened.push(dest);
  return { dest, file };
}

const state = (dest: Destination): SonicState => dest as unknown as SonicState;

assumption(
  "sonic-boom's private `_len` counts the bytes buffered and not yet written, and is 0 once `drain` is emitted",
  'src/telemetry/logger.ts guard(): flush() waits until `_len` is 0, re-kicking the destination after each drain',
  async () => {
    const { dest, file } = destination({ minLength: 4096 });
    expect(state(dest).fd).toBeGreaterThanOrEqual(0);
    dest.write('abc\n');
    expect(state(dest)._len).toBe(4); // below minLength: held
    const drained = once(dest, 'drain');
    dest.flush();
    await drained;
    expect(state(dest)._len).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('abc\n');
  },
);

assumption(
  "sonic-boom's private `_writing` is true from the moment an asynchronous fs.write is issued until it completed",
  'src/telemetry/logger.ts guard(): the replaced flushSync skips while `_writing` (an in-flight chunk would be overtaken)',
  async () => {
    const { dest } = destination({ minLength: 0 });
    const drained = once(dest, 'drain');
    dest.write('line\n'); // minLength 0: the write is issued within this call
    expect(state(dest)._writing).toBe(true);
    await drained;
    expect(state(dest)._writing).toBe(false);
    expect(state(dest).destroyed).toBe(false);
  },
);

assumption(
  "pino's exit hook for an asynchronous pino.destination() calls the destination's `flushSync` property (so a replacement assigned to it is what runs at exit)",
  'src/telemetry/logger.ts guard(): `destination.flushSync = ...` (skips a failed destination so a full disk cannot hang the exit)',
  () => {
    const file = join(dir, 'exit.txt');
    const script = `
      const fs = require('node:fs');
      const pino = require('pino');
      const dest = pino.destination({ dest: fs.openSync(${JSON.stringify(file)}, 'a'), sync: false, minLength: 4096 });
      const original = dest.flushSync.bind(dest);
      dest.flushSync = () => { dest.write('replacement ran\\n'); original(); };
      dest.write('before exit\\n');
      process.exit(0);
    `;
    const child = spawnSync(process.execPath, ['-e', script], {
      cwd: process.cwd(),
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('before exit\nreplacement ran\n');
  },
  20_000,
);

assumption(
  "pino's fatal() calls `flushSync()` on the stream it writes to, after writing the line",
  "src/telemetry/logger.ts TurnBatch.flushSync(): hands the turn's lines to sonic-boom before its flushSync runs",
  () => {
    const calls: string[] = [];
    const stream = {
      write: (line: string) => void calls.push(`write ${(JSON.parse(line) as { msg: string }).msg}`),
      flushSync: () => void calls.push('flushSync'),
    };
    pino({}, stream).fatal('last words');
    expect(calls).toEqual(['write last words', 'flushSync']);
  },
);

assumption(
  'sonic-boom emits `drop` with the dropped data when a write would pass `maxLength`',
  "src/telemetry/logger.ts guard(): counts dropped lines from the `drop` event (a turn's lines are dropped together)",
  () => {
    const { dest } = destination({ minLength: 4096, maxLength: 64 });
    const dropped: string[] = [];
    dest.on('drop', (data: string) => dropped.push(data));
    dest.write('a'.repeat(40) + '\n');
    dest.write('b'.repeat(40) + '\n' + 'c'.repeat(10) + '\n');
    expect(dropped).toEqual(['b'.repeat(40) + '\n' + 'c'.repeat(10) + '\n']);
  },
);
