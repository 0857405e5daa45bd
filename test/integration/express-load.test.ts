/**
 * Loading `express` entries: `portico check`'s errors (missing package, missing export, wrong shape) with
 * file:line:col and key path, and what a reload does with changed options and a changed CommonJS file.
 */
import { ConfigError } from '../../src/config/config-error.js';
import { loadConfigFile } from '../../src/config/load.js';
import { defaultRegistry } from '../../src/middleware/registry.js';
import type { Portico } from '../../src/main.js';
import { pluginFolder, startFromFolder } from '../helpers/express-plugins.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { request } from '../helpers/http.js';

async function issuesOf(yaml: string): Promise<string[]> {
  const folder = pluginFolder();
  folder.write(yaml);
  try {
    await loadConfigFile(folder.file, { registry: defaultRegistry, env: {} });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((issue) => `${issue.line}:${issue.col} ${issue.path}: ${issue.message}`);
  }
  throw new Error('expected the config to be refused');
}

const routeWith = (entry: string): string =>
  `routes:\n  - name: api\n    upstream: http://127.0.0.1:9\n    middleware:\n      - ${entry}\n`;

describe('express kind: check errors', () => {
  // Lines: 1-5 are the server and userLookup sections the folder writes; the route starts on line 6.
  it('reports a missing package at its use key', async () => {
    const issues = await issuesOf(routeWith('express: { use: no-such-package-xyz }'));
    expect(issues).toEqual([
      expect.stringMatching(
        /^10:25 routes\[0\]\.middleware\[0\]\.express\.use: cannot find the package "no-such-package-xyz"/,
      ),
    ]);
  });

  it('reports a missing local file and a file of the wrong type', async () => {
    expect(await issuesOf(routeWith('express: { use: ./missing.cjs }'))).toEqual([
      expect.stringMatching(
        /^10:25 routes\[0\]\.middleware\[0\]\.express\.use: cannot find the file "\.\/missing\.cjs"/,
      ),
    ]);
    expect(await issuesOf(routeWith('express: { use: ./portico.yaml }'))).toEqual([
      expect.stringMatching(/must be a \.js, \.cjs or \.mjs file/),
    ]);
  });

  it('reports a missing export, listing the ones there are', async () => {
    const issues = await issuesOf(routeWith('express: { use: ./failing.cjs, export: nope }'));
    expect(issues).toEqual([
      expect.stringMatching(
        /^10:48 routes\[0\]\.middleware\[0\]\.express\.export: "\.\/failing\.cjs" has no export "nope" \(it exports: throws, forbidden/,
      ),
    ]);
  });

  it('reports exports of the wrong shape', async () => {
    expect(await issuesOf(routeWith('express: { use: ./failing.cjs, export: notAFunction }'))).toEqual([
      expect.stringMatching(/express\.export: export "notAFunction" is an object$/),
    ]);
    expect(await issuesOf(routeWith('express: { use: ./failing.cjs, export: returnsString }'))).toEqual([
      expect.stringMatching(/express\.factory: returnsString called as a factory returned a string, not a middleware/),
    ]);
    expect(await issuesOf(routeWith('express: { use: ./failing.cjs, export: errorHandler }'))).toEqual([
      expect.stringMatching(/gives a function of 4 arguments: an error handler/),
    ]);
    expect(await issuesOf(routeWith('express: { use: ./plain.cjs, options: { a: 1 }, factory: false }'))).toEqual([
      expect.stringMatching(/express\.options: options are given, but factory: false/),
    ]);
  });

  it('reports an entry of the global chain at its own path', async () => {
    const issues = await issuesOf(`middleware:\n  - express: { use: ./missing.cjs }\n${routeWith('logging')}`);
    expect(issues).toEqual([expect.stringMatching(/^7:21 middleware\[0\]\.express\.use: cannot find the file/)]);
  });
});

describe('express kind: reload', () => {
  const running: Array<Portico | TestUpstream> = [];
  afterEach(async () => {
    for (const item of running.splice(0)) await ('shutdown' in item ? item.shutdown() : item.close());
  });

  it('applies changed options; a module that fails to load keeps the old config serving', async () => {
    const up = await startUpstream();
    running.push(up);
    const folder = pluginFolder();
    const yaml = (use: string, value: string): string =>
      `routes:\n  - name: api\n    upstream: ${up.url}\n    middleware:\n      - express: { use: ${use}, options: { value: ${value} } }\n`;
    folder.write(yaml('./tag.cjs', 'one'));
    const p = await startFromFolder(folder);
    running.push(p);
    expect((await request(`${p.proxyUrl}/x`)).headers['x-tag']).toBe('v1:one');

    folder.write(yaml('./tag.cjs', 'two'));
    expect(await p.reloadFromFile()).toBe(true);
    expect((await request(`${p.proxyUrl}/x`)).headers['x-tag']).toBe('v1:two');

    folder.write(yaml('./missing.cjs', 'three'));
    expect(await p.reloadFromFile()).toBe(false);
    expect((await request(`${p.proxyUrl}/x`)).headers['x-tag']).toBe('v1:two');
  });
});
