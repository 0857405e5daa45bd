#!/usr/bin/env node
/**
 * `portico [serve] --config FILE` serves; `portico check --config FILE` validates and exits 1 with every error.
 * Modules that OpenTelemetry instruments (http, express, ioredis, pg) are loaded only after telemetry has started,
 * hence the dynamic imports below: an instrumentation patches a module when it is first required, and a module
 * required earlier stays unpatched.
 */
import { parseArgs } from 'node:util';
import { parseListen } from './config/address.js';

const USAGE = `usage: portico [serve] --config FILE [--demo-upstream HOST:PORT]
       portico check --config FILE
       portico seed --config FILE [--count N]
       portico schema`;

interface Args {
  readonly command: string;
  readonly config: string | undefined;
  readonly demoUpstream: string | undefined;
  readonly count: string | undefined;
}

function parse(argv: string[]): Args {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      'demo-upstream': { type: 'string' },
      count: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  return {
    command: positionals[0] ?? 'serve',
    config: values.config,
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
    process.stderr.write('--count must be a positive integer\n');
    return 2;
  }
  const { loadConfigFile } = await import('./config/load.js');
  const { defaultRegistry } = await import('./middleware/registry.js');
  const { seedUsers } = await import('./users/index.js');
  const { default: pino } = await import('pino');
  const config = await loadConfigFile(file, { registry: defaultRegistry });
  const added = await seedUsers(config, pino({ level: 'warn' }), n);
  process.stdout.write(`seeded ${added} users\n`);
  return 0;
}

async function serve(file: string, demoUpstream: string | undefined): Promise<void> {
  const { runServer } = await import('./run.js');
  await runServer({ file, demoUpstream: demoUpstream === undefined ? undefined : parseListen(demoUpstream) });
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  if (args.command === 'schema') {
    const { printSchema } = await import('./config/json-schema.js');
    process.stdout.write(printSchema());
    return;
  }
  if (args.config === undefined) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(2);
  }
  if (args.command === 'check') process.exit(await check(args.config));
  if (args.command === 'seed') process.exit(await seed(args.config, args.count));
  if (args.command !== 'serve') {
    process.stderr.write(`unknown command "${args.command}"\n${USAGE}\n`);
    process.exit(2);
  }
  await serve(args.config, args.demoUpstream);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
