/**
 * The `express` kind under plain Node (a child process): jest's module loader can neither require an ES module nor
 * honour require.cache, so ES module plugins and the re-reading of a changed file on reload are tested where
 * Portico really runs.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeTsChild } from '../helpers/ts-child.js';
import { pluginFolder, type PluginFolder } from '../helpers/express-plugins.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { request } from '../helpers/http.js';

const CHILD = `
const { loadConfigFile } = require(src('config/load.ts'));
const { defaultRegistry } = require(src('middleware/registry.ts'));
const { startPortico } = require(src('main.ts'));
const pino = require(dep('pino'));
(async () => {
  const file = process.argv[2];
  const config = await loadConfigFile(file, { registry: defaultRegistry, env: {} });
  const portico = await startPortico({ config, configFile: file, logger: pino({ level: 'silent' }) });
  process.on('message', async (message) => {
    if (message === 'reload') process.send({ reloaded: await portico.reloadFromFile() });
    if (message === 'stop') { await portico.shutdown(); process.exit(0); }
  });
  process.send({ proxyUrl: portico.proxyUrl });
})().catch((err) => { process.send({ error: err.message }); process.exit(1); });
`;

interface Reply {
  readonly proxyUrl?: string;
  readonly reloaded?: boolean;
  readonly error?: string;
}

const children: ChildProcess[] = [];
const upstreams: TestUpstream[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const up of upstreams.splice(0)) await up.close();
});

async function reply(child: ChildProcess): Promise<Reply> {
  const [message] = (await Promise.race([
    once(child, 'message'),
    new Promise((_resolve, reject) => setTimeout(() => reject(new Error('no reply from the child')), 20_000).unref()),
  ])) as [Reply];
  return message;
}

async function start(folder: PluginFolder): Promise<{ child: ChildProcess; proxyUrl: string }> {
  const child = fork(writeTsChild(folder.dir, CHILD), [folder.file], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  children.push(child);
  const first = await reply(child);
  if (first.proxyUrl === undefined) throw new Error(`child failed: ${first.error ?? 'no url'}`);
  return { child, proxyUrl: first.proxyUrl };
}

async function reload(child: ChildProcess): Promise<boolean | undefined> {
  child.send('reload');
  return (await reply(child)).reloaded;
}

it('runs a local .mjs plugin with Express req/res (req.get, req.query, req.ip) and Portico values on res.locals', async () => {
  const up = await startUpstream();
  upstreams.push(up);
  const folder = pluginFolder();
  folder.write(
    `routes:\n  - name: orders\n    upstream: ${up.url}\n    middleware:\n      - rateLimit: api\n      - express: { use: ./audit.mjs, export: audit, options: { header: x-audit } }\n` +
      'rateLimits:\n  api: { key: ip, limit: 100, window: 1m }\n',
  );
  const { proxyUrl } = await start(folder);
  const res = await request(`${proxyUrl}/orders?status=open`, { headers: { 'x-user': 'ada' } });
  expect(res.status).toBe(200);
  expect(res.headers['x-audit']).toBe('user=ada');
  expect(JSON.parse(String(res.headers['x-seen-query']))).toEqual({ status: 'open' });
  expect(res.headers['x-seen-ip']).toBe('127.0.0.1');
  expect(JSON.parse(String(res.headers['x-seen-locals']))).toMatchObject({
    requestId: res.headers['x-request-id'],
    clientIp: '127.0.0.1',
    route: 'orders',
  });
  expect(res.headers['ratelimit-policy']).toBeDefined(); // the built-in kind before it ran too
  expect(up.received).toHaveLength(1);
});

it('a reload re-reads a changed .cjs file, and refuses a changed .mjs file while the old config keeps serving', async () => {
  const up = await startUpstream();
  upstreams.push(up);
  const folder = pluginFolder();
  folder.write(
    `routes:\n  - name: api\n    upstream: ${up.url}\n    middleware:\n      - express: { use: ./tag.cjs, options: { value: one } }\n      - express: { use: ./audit.mjs, export: audit, options: { header: x-audit } }\n`,
  );
  const { child, proxyUrl } = await start(folder);
  expect((await request(`${proxyUrl}/x`)).headers['x-tag']).toBe('v1:one');

  writeFileSync(
    join(folder.dir, 'tag.cjs'),
    "module.exports = (o) => (req, res, next) => { res.setHeader('x-tag', 'v2:' + o.value); next(); };\n",
  );
  expect(await reload(child)).toBe(true);
  expect((await request(`${proxyUrl}/x`)).headers['x-tag']).toBe('v2:one');

  writeFileSync(
    join(folder.dir, 'audit.mjs'),
    "export const audit = () => (req, res, next) => { res.set('x-audit', 'changed'); next(); };\n",
  );
  expect(await reload(child)).toBe(false);
  const after = await request(`${proxyUrl}/x`, { headers: { 'x-user': 'bob' } });
  expect(after.headers['x-audit']).toBe('user=bob');
  expect(after.headers['x-tag']).toBe('v2:one');
});
