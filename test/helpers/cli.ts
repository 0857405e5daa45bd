/**
 * Runs `portico …` as a user does: src/cli.ts in a child process (through the TypeScript require hook of
 * ts-child.ts), with its own argv and environment; resolves with the exit code and both streams.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTsChild } from './ts-child.js';

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Cli {
  readonly run: (args: readonly string[], env?: Readonly<Record<string, string>>) => Promise<CliResult>;
  readonly close: () => void;
}

/** A child hard-killed after `timeoutMs`: a CLI call that hangs fails the test instead of holding it. */
export function cliRunner(timeoutMs = 30_000): Cli {
  const dir = mkdtempSync(join(tmpdir(), 'portico-cli-'));
  const child = writeTsChild(dir, "require(src('cli.ts'));\n");
  const run = (args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<CliResult> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        [child, ...args],
        { env: { PATH: process.env.PATH ?? '', ...env }, timeout: timeoutMs, killSignal: 'SIGKILL' },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
          resolve({ code, stdout, stderr });
        },
      );
    });
  return { run, close: () => rmSync(dir, { recursive: true, force: true }) };
}
