/**
 * The command line as a user meets it: `portico` in a child process (test/helpers/cli.ts). Exit codes: 0 done,
 * 1 the work failed, 2 a wrong command line (with the usage on stderr).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliRunner, type Cli } from '../helpers/cli.js';

let cli: Cli;
let dir: string;
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

beforeAll(() => {
  cli = cliRunner();
  dir = mkdtempSync(join(tmpdir(), 'portico-cli-test-'));
});
afterAll(() => {
  cli.close();
  rmSync(dir, { recursive: true, force: true });
});

test('--version prints the package version', async () => {
  const { version } = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as { version: string };
  const results = await Promise.all([cli.run(['--version']), cli.run(['-v'])]);
  for (const result of results) expect(result).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
});

test('--help on every subcommand shows that command, its options and exits 0', async () => {
  const commands = ['serve', 'check', 'seed', 'schema'];
  const results = await Promise.all([cli.run(['--help']), ...commands.map((command) => cli.run([command, '--help']))]);
  const [all, ...each] = results;
  expect(all?.code).toBe(0);
  for (const command of commands) expect(all?.stdout).toContain(`portico ${command === 'serve' ? '[serve]' : command}`);
  each.forEach((result, index) => {
    const command = commands[index] as string;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^usage: portico ${command === 'serve' ? '\\[serve\\]' : command}`));
    expect(result.stdout).toContain('--help');
    if (command === 'seed') expect(result.stdout).toContain('--count N');
    if (command === 'check') expect(result.stdout).not.toContain('--count');
  });
});

test('a wrong command line exits 2 with a usage line, and does nothing', async () => {
  const config = file('ok.yaml', 'routes: []\n');
  const cases: Array<[string[], RegExp, RegExp]> = [
    [['check', '--config', config, '--bogus'], /unknown option '--bogus'/i, /^usage: portico check --config FILE$/m],
    [['check', '--config', config, '--count', '3'], /--count does not apply to "check"/, /^usage: portico check/m],
    [['check'], /--config FILE is required/, /^usage: portico check/m],
    [['seed', '--config', config, 'extra'], /unexpected argument "extra"/, /^usage: portico seed/m],
    [['frobnicate', '--config', config], /unknown command "frobnicate"/, /^usage: portico \[serve\]/m],
    [['--config'], /argument missing/, /^usage: /m],
  ];
  const results = await Promise.all(cases.map(([args]) => cli.run(args)));
  results.forEach((result, index) => {
    const [, message, usage] = cases[index] as [string[], RegExp, RegExp];
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(usage);
  });
});

test('seed against the embedded in-memory database says why it seeded nothing, and exits 1', async () => {
  const config = file('memory.yaml', 'userLookup: { enabled: true }\n');
  const result = await cli.run(['seed', '--config', config]);
  expect(result.code).toBe(1);
  expect(result.stdout).toBe('');
  expect(result.stderr).toMatch(/nothing seeded: database\.url is empty/);
  expect(result.stderr).toMatch(/Set database\.url/);
});

test('check reports schema errors and cross-reference errors in one run, exit 1', async () => {
  const config = file(
    'bad.yaml',
    'rateLimits:\n  per-client: { key: ip, limit: 10, window: 1m }\nmiddleware: [loging]\nroutes:\n  - name: a\n    upstream: http://127.0.0.1:1\n    timeout: soon\n    middleware:\n      - rateLimit: per-clinet\n',
  );
  const result = await cli.run(['check', '--config', config]);
  expect(result.code).toBe(1);
  const lines = result.stderr.trim().split('\n');
  expect(lines).toEqual([
    expect.stringMatching(/bad\.yaml:7:\d+: routes\[0\]\.timeout: invalid duration/),
    expect.stringMatching(/bad\.yaml:9:\d+: routes\[0\]\.middleware\[0\]\.rateLimit: unknown rate-limit policy/),
    expect.stringMatching(/bad\.yaml:3:\d+: middleware\[0\]: unknown middleware kind "loging"/),
  ]);
});
