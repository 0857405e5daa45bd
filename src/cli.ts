#!/usr/bin/env node
/**
 * `portico [serve] --config FILE` serves; `portico check --config FILE` validates and exits 1 with every error;
 * `portico COMMAND --help` says how; a wrong command line exits 2 with the usage.
 * Modules that OpenTelemetry instruments (http, express, ioredis, pg) are loaded only after telemetry has started,
 * hence the dynamic imports below: an instrumentation patches a module when it is first required, and a module
 * required earlier stays unpatched.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseListen } from './config/address.js';

interface Command {
  readonly usage: string;
  readonly summary: string;
  readonly options: readonly string[];
}

const COMMANDS: Readonly<Record<string, Command>> = {
  serve: {
    usage: 'portico [serve] --config FILE [--demo-upstream HOST:PORT]',
    summary: 'Serves; SIGHUP or a change to FILE reloads it; SIGTERM/SIGINT drain and exit 0.',
    options: ['config', 'demo-upstream'],
  },
  check: {
    usage: 'portico check --config FILE',
    summary: 'Validates FILE and prints every error with file, line, column and key path; exit 1 on error.',
    options: ['config'],
  },
  seed: {
    usage: 'portico seed --config FILE [--count N]',
    summary: "Migrates the users table of FILE's database and loads N sample users (default 100).",
    options: ['config', 'count'],
  },
  schema: {
    usage: 'portico schema',
    summary: 'Prints the JSON Schema of the config file (for editors).',
    options: [],
  },
};

const OPTION_HELP: Readonly<Record<string, readonly [string, string]>> = {
  config: ['-c, --config FILE', 'the config file (default: $PORTICO_CONFIG)'],
  'demo-upstream': ['    --demo-upstream HOST:PORT', 'also start an echo upstream there (for trying Portico out)'],
  count: ['    --count N', 'how many sample users (default 100)'],
  help: ['-h, --help', 'this help'],
};

const USAGE = `usage: ${Object.values(COMMANDS)
  .map((command) => command.usage)
  .join('\n       ')}
       portico --version | --help | COMMAND --help`;

/** Exit codes: 0 done, 1 the work failed (an invalid config, a seed that cannot seed), 2 a wrong command line. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly command: string | undefined,
  ) {
    super(message);
  }
}

function help(name: string): string {
  const command = COMMANDS[name] as Command;
  const rows = [...command.options, 'help'].map((option) => OPTION_HELP[option] as readonly [string, string]);
  const width = Math.max(...rows.map(([flags]) => flags.length)) + 2;
  const options = rows.map(([flags, text]) => `  ${flags.padEnd(width)}${text}`).join('\n');
  return `usage: ${command.usage}\n\n${command.summary}\n\noptions:\n${options}\n`;
}

/** The version in package.json, beside dist/ in the image and beside src/ in the repository. */
function version(): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

interface Args {
  readonly command: string;
  readonly config: string | undefined;
  readonly demoUpstream: string | undefined;
  readonly count: string | undefined;
}

/** Reads argv; prints help or the version and exits 0 when asked; throws UsageError for a wrong command line. */
function parse(argv: string[]): Args {
  const named = argv.find((arg) => Object.hasOwn(COMMANDS, arg));
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        'demo-upstream': { type: 'string' },
        count: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (err) {
    // node:util's messages end with advice about `--`; the first sentence is the problem.
    throw new UsageError((err as Error).message.split('. ')[0] ?? 'invalid arguments', named);
  }
  const { values, positionals } = parsed;
  const command = positionals[0] ?? 'serve';
  if (!Object.hasOwn(COMMANDS, command)) throw new UsageError(`unknown command "${command}"`, undefined);
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    process.exit(0);
  }
  if (values.help) {
    process.stdout.write(positionals.length === 0 ? `${USAGE}\n` : help(command));
    process.exit(0);
  }
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`, command);
  const allowed = (COMMANDS[command] as Command).options;
  const stray = Object.keys(values).find((option) => !allowed.includes(option));
  if (stray !== undefined) throw new UsageError(`option --${stray} does not apply to "${command}"`, command);
  // The image's entrypoint takes its config from the environment (an exec-form ENTRYPOINT expands no variables).
  const config = values.config ?? (process.env.PORTICO_CONFIG || undefined);
  if (command !== 'schema' && config === undefined)
    throw new UsageError('--config FILE is required (or PORTICO_CONFIG in the environment)', command);
  return {
    command,
    config,
    demoUpstream: values['demo-upstream'],
    count: values.count,
  };
}

async function check(file: string): Promise<number> {
  const { loadConfigFile } = await import('./config/load.js');
  const { defaultRegistry } = await import('./middleware/registry.js');
  try {
    await loadConfigFile(file, { registry: defaultRegistry });
    process.stdout.write(`${file}: ok\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
}

async function seed(file: string, count: string | undefined): Promise<number> {
  const n = count === undefined ? undefined : Number(count);
  if (n !== undefined && (!Number.isInteger(n) || n < 1)) {
    process.stderr.write(`--count must be a positive integer\n${help('seed')}`);
    return 2;
  }
  const { loadConfigFile } = await import('./config/load.js');
  const { defaultRegistry } = await import('./middleware/registry.js');
  const config = await loadConfigFile(file, { registry: defaultRegistry });
  if (config.database.url === '' && config.database.embeddedDataDir === '') {
    // Seeding a database that vanishes when this command exits would report success for nothing.
    process.stderr.write(
      `${file}: nothing seeded: database.url is empty, so the users live in the embedded in-memory database, which exists only inside a serving process (it loads the sample users itself at start). Set database.url to seed PostgreSQL, or database.embeddedDataDir to seed a persisted embedded database.\n`,
    );
    return 1;
  }
  const { seedUsers } = await import('./users/index.js');
  const { default: pino } = await import('pino');
  const added = await seedUsers(config, pino({ level: 'warn' }), n);
  process.stdout.write(`seeded ${added} users\n`);
  return 0;
}

async function serve(file: string, demoUpstream: string | undefined): Promise<void> {
  const { runServer } = await import('./run.js');
  await runServer({ file, demoUpstream: demoUpstream === undefined ? undefined : parseListen(demoUpstream) });
}

async function main(): Promise<void> {
  let args: Args;
  try {
    args = parse(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    const usage = err.command === undefined ? USAGE : `usage: ${(COMMANDS[err.command] as Command).usage}`;
    process.stderr.write(`portico: ${err.message}\n${usage}\n`);
    process.exit(2);
  }
  if (args.command === 'schema') {
    const { printSchema } = await import('./config/json-schema.js');
    process.stdout.write(printSchema());
    return;
  }
  const config = args.config as string;
  if (args.command === 'check') process.exit(await check(config));
  if (args.command === 'seed') process.exit(await seed(config, args.count));
  await serve(config, args.demoUpstream);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
