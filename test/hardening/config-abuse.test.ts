/**
 * Hostile config files through the real file loader: each is refused quickly with a ConfigError that names the
 * file and says why, and none leaves a trace on Object.prototype. Portico takes no regular expression from its
 * config or requests; the expressions it applies to request and config text are linear, checked here on 50k-1MiB
 * adversarial inputs.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { loadConfigFile, MAX_CONFIG_BYTES } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/config-error.js';
import { configSchema } from '../../src/config/schema.js';
import { defaultRegistry } from '../../src/middleware/registry.js';
import { hostIssue, safePath } from '../../src/proxy/path.js';
import { saneRequestId } from '../../src/proxy/headers.js';

const dir = mkdtempSync(join(tmpdir(), 'portico-config-abuse-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ROUTE = 'routes:\n  - name: a\n    upstream: http://127.0.0.1:1\n';

const HOSTILE: ReadonlyArray<[string, string, RegExp]> = [
  [
    'billion laughs',
    [
      'a: &a [x,x,x,x,x,x,x,x,x]',
      ...'bcdefgh'.split('').map((n, i) => `${n}: &${n} [${`*${'abcdefgh'[i]},`.repeat(9).slice(0, -1)}]`),
      'routes: *h',
    ].join('\n'),
    /Excessive alias count/,
  ],
  [
    'many plain aliases',
    `x: &a http://127.0.0.1:1\n${Array.from({ length: 500 }, (_, i) => `y${i}: *a`).join('\n')}\n`,
    /Excessive alias count/,
  ],
  ['merge key bomb', 'b: &b { name: a, upstream: "http://127.0.0.1:1" }\nroutes:\n  - <<: *b\n', /unknown key "<<"/],
  ['over 1 MiB', `${ROUTE}# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`, /file is \d+ bytes; the limit is 1048576/],
  ['deep nesting', `routes: ${'['.repeat(50_000)}${']'.repeat(50_000)}\n`, /Maximum call stack|nest|depth/i],
  [
    'custom scalar tag',
    'routes:\n  - name: a\n    upstream: !!js/function "function () { process.exit(1) }"\n',
    /Unresolved tag/,
  ],
  ['local tag', 'routes:\n  - name: !shell "rm -rf /"\n    upstream: http://127.0.0.1:1\n', /tag/],
  ['verbatim tag', 'routes:\n  - name: !<tag:evil.example,2024:x> a\n    upstream: http://127.0.0.1:1\n', /tag/],
  ['tag on a collection', 'routes: !!python/object:os.system\n  - name: a\n    upstream: http://127.0.0.1:1\n', /tag/],
  ['top-level __proto__', '__proto__:\n  polluted: true\nroutes: []\n', /key "__proto__" is not allowed/],
  ['quoted nested __proto__', `${ROUTE}    "__proto__": { polluted: true }\n`, /key "__proto__" is not allowed/],
  [
    '__proto__ as a policy name',
    'rateLimits:\n  __proto__: { limit: 1, window: 1s }\n',
    /key "__proto__" is not allowed/,
  ],
  [
    'constructor as a policy name',
    'rateLimits:\n  constructor: { limit: 1, window: 1s }\n',
    /key "constructor" is not allowed/,
  ],
  [
    'prototype key in a flow map',
    'rateLimits: { prototype: { limit: 1, window: 1s } }\n',
    /key "prototype" is not allowed/,
  ],
  ['NUL byte', `${ROUTE}\u0000\n`, /.+/],
];

/**
 * CPU time (ms) this process spent since `since` (from `process.cpuUsage()`): unlike wall time, it does not grow
 * when other processes keep the cores busy, so the bounds below hold on a loaded machine and still catch a
 * catastrophic backtrack (seconds to years of CPU on these inputs).
 */
function cpuMsSince(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

describe('hostile config files are refused with a clear error', () => {
  it.each(HOSTILE)('%s', async (name, text, why) => {
    const file = join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
    writeFileSync(file, text);
    const started = process.cpuUsage();
    const error = await loadConfigFile(file, { registry: defaultRegistry, env: {} }).then(
      () => undefined,
      (err: unknown) => err,
    );
    const elapsed = cpuMsSince(started);
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message.startsWith(`${file}:`)).toBe(true); // names the file, with line and column
    expect(message).toMatch(why);
    expect(elapsed).toBeLessThan(5000);
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('no regular expression can hang the event loop', () => {
  const ATTACKS = [
    'a'.repeat(50_000),
    `/${'a/'.repeat(25_000)}`,
    `/${'%2'.repeat(20_000)}`,
    `/${'./'.repeat(25_000)}x`,
    `/${'.'.repeat(50_000)}\\`,
    `${'['.repeat(25_000)}::`,
    `${'a.'.repeat(25_000)}:${'9'.repeat(1000)}`,
    `${'-'.repeat(1_048_576)}!`,
  ];
  const fakeRequest = (host: string) =>
    ({ headers: { host }, rawHeaders: ['Host', host] }) as unknown as IncomingMessage;

  it.each(ATTACKS.map((text) => [text.length, text]))(
    'request-path checks finish fast on %d adversarial characters',
    (_length, text) => {
      const started = process.cpuUsage();
      safePath(text);
      safePath(`/${text}`);
      hostIssue(fakeRequest(text));
      saneRequestId(text);
      expect(cpuMsSince(started)).toBeLessThan(100);
    },
  );

  it('config validation of adversarial strings finishes fast', () => {
    const started = process.cpuUsage();
    const result = configSchema.safeParse({
      routes: [
        {
          name: `${'a'.repeat(50_000)}!`,
          upstream: 'http://127.0.0.1:1',
          middleware: [
            { headers: { request: { set: { [`${'a'.repeat(50_000)}\u0000`]: `${'x'.repeat(50_000)}\u0000` } } } },
          ],
        },
      ],
      rateLimits: { [`${'a'.repeat(50_000)}!`]: { key: `header:${'a'.repeat(50_000)}!`, limit: 1, window: '1s' } },
      telemetry: { logs: { redact: [`${'a.'.repeat(25_000)}!`, `${'[*]'.repeat(16_000)}x`] } },
    });
    expect(result.success).toBe(false);
    expect(cpuMsSince(started)).toBeLessThan(500);
  });

  it('Portico builds no RegExp from data: `new RegExp(` appears nowhere in src/', () => {
    const offenders: string[] = [];
    const walk = (path: string): void => {
      for (const entry of readdirSync(path, { withFileTypes: true })) {
        const full = join(path, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (/\bnew RegExp\(|\bRegExp\(/.test(readFileSync(full, 'utf8'))) offenders.push(full);
      }
    };
    walk(join(__dirname, '..', '..', 'src'));
    expect(offenders).toEqual([]);
  });
});

describe('a headers entry cannot touch framing, routing or hop-by-hop headers', () => {
  const RESERVED = [
    'content-length',
    'Transfer-Encoding',
    'host',
    'connection',
    'keep-alive',
    'proxy-connection',
    'upgrade',
    'te',
    'trailer',
    'expect',
  ];

  it.each(RESERVED)('%s is refused in set and remove, on either side, with file:line:col', async (name) => {
    const file = join(dir, `reserved-${name}.yaml`);
    writeFileSync(
      file,
      [
        ROUTE.trimEnd(),
        '    middleware:',
        '      - headers:',
        `          request: { set: { ${name}: "0" } }`,
        `          response: { remove: [${name}] }`,
        '',
      ].join('\n'),
    );
    const error = await loadConfigFile(file, { registry: defaultRegistry, env: {} }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(ConfigError);
    const lines = (error as ConfigError).message.split('\n');
    const lower = name.toLowerCase();
    expect(lines).toEqual([
      expect.stringMatching(
        new RegExp(
          `^${file}:6:\\d+: routes\\[0\\]\\.middleware\\[0\\]\\.headers\\.request\\.set\\.${name}: "${lower}"`,
        ),
      ),
      expect.stringMatching(
        new RegExp(
          `^${file}:7:\\d+: routes\\[0\\]\\.middleware\\[0\\]\\.headers\\.response\\.remove\\[0\\]: "${lower}"`,
        ),
      ),
    ]);
  });

  it('ordinary names, proxy-authorization included, are accepted', async () => {
    const file = join(dir, 'headers-ok.yaml');
    writeFileSync(
      file,
      `${ROUTE}    middleware:\n      - headers: { request: { set: { proxy-authorization: "Basic x", x-api-key: k } } }\n`,
    );
    const config = await loadConfigFile(file, { registry: defaultRegistry, env: {} });
    expect(config.routes[0]?.middleware).toHaveLength(1);
  });
});
