/**
 * The Dockerfile and .dockerignore, checked offline (the image itself is built and run by
 * test/integration/image.test.ts where Docker runs): the build context carries what the build copies and nothing
 * else, the entrypoint takes any subcommand, the health check finds the admin port in every form PORTICO_ADMIN
 * takes, the default config starts no embedded database, and the Node version is the project's.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { healthzUrl } from '../../src/admin/healthcheck.js';
import { dockerfileContract, loadEmbeddedConfig, readRepoFile, ROOT } from '../helpers/deploy.js';

const dockerfile = readRepoFile('Dockerfile').replace(/\\\n\s*/g, ' ');
const image = dockerfileContract();

/** Whether .dockerignore leaves `path` in the build context: last matching pattern wins, `!` re-includes. */
function inContext(path: string): boolean {
  let included = true;
  for (const raw of readRepoFile('.dockerignore').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negated = line.startsWith('!');
    const pattern = (negated ? line.slice(1) : line).replace(/\/$/, '');
    const regex = new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*\*\//g, '(?:.*/)?')
        .replace(/\*/g, '[^/]*')}(?:/.*)?$`,
    );
    if (regex.test(path)) included = negated;
  }
  return included;
}

function execForm(instruction: string): string[] {
  const match = new RegExp(`^${instruction} (\\[.*\\])$`, 'm').exec(dockerfile);
  expect(match).not.toBeNull();
  return JSON.parse(match?.[1] as string) as string[];
}

test('.dockerignore: the build context has what the build copies, and no node_modules, .git or dist', () => {
  const copied = [...dockerfile.matchAll(/^COPY (?!--from)(?:--\S+ )*(.+) \S+$/gm)].flatMap((m) =>
    (m[1] as string).split(/\s+/),
  );
  expect(copied).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'src', 'config/portico.yaml']));
  for (const file of copied) {
    expect(existsSync(join(ROOT, file))).toBe(true);
    expect([file, inContext(file)]).toEqual([file, true]);
  }
  expect(inContext('src/cli.ts')).toBe(true);
  for (const path of ['node_modules', 'node_modules/express/index.js', '.git', 'dist/cli.js', 'test/unit', 'bench'])
    expect([path, inContext(path)]).toEqual([path, false]);
});

test('exec-form ENTRYPOINT and CMD: node is PID 1, and `docker run IMAGE check --config …` runs check', () => {
  const entrypoint = execForm('ENTRYPOINT');
  expect(entrypoint[0]).toBe('node');
  expect(entrypoint.at(-1)).toBe('dist/cli.js');
  expect(execForm('CMD')).toEqual(['serve']);
  // The config path comes from PORTICO_CONFIG, which the CLI reads when --config is absent.
  expect(readRepoFile('src/cli.ts')).toContain('process.env.PORTICO_CONFIG');
});

test('the health check asks /healthz on loopback for every documented PORTICO_ADMIN form', () => {
  const check = /^HEALTHCHECK .*\bCMD (\[.*\])$/m.exec(dockerfile)?.[1];
  expect(JSON.parse(check ?? 'null')).toEqual(['node', 'dist/admin/healthcheck.js']);
  expect(healthzUrl(image.env.PORTICO_ADMIN as string)).toBe('http://127.0.0.1:9901/healthz');
  expect(healthzUrl(':9901')).toBe('http://127.0.0.1:9901/healthz');
  expect(healthzUrl('0.0.0.0:9901')).toBe('http://127.0.0.1:9901/healthz');
  expect(healthzUrl('[::]:9901')).toBe('http://[::1]:9901/healthz');
  expect(healthzUrl('[::1]:9901')).toBe('http://[::1]:9901/healthz');
  expect(healthzUrl('localhost:9901')).toBe('http://localhost:9901/healthz');
  expect(healthzUrl('9901')).toBeUndefined();
});

test("the image's default config starts no embedded database unless asked", () => {
  const text = readRepoFile('config/portico.yaml');
  const off = loadEmbeddedConfig(text, 'config/portico.yaml', { ...image.env });
  expect(off.userLookup.enabled).toBe(false);
  const asked = loadEmbeddedConfig(text, 'config/portico.yaml', { ...image.env, PORTICO_USER_LOOKUP: 'true' });
  expect(asked.userLookup.enabled).toBe(true);
  // npm start (no such variable) keeps the demo's lookup.
  expect(loadEmbeddedConfig(text, 'config/portico.yaml', {}).userLookup.enabled).toBe(true);
});

test('Node 24 everywhere: the base images, .nvmrc, the pinned `node` devDependency, and the comments', () => {
  const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
  expect(froms.length).toBeGreaterThan(0);
  for (const from of froms) expect(from).toMatch(/^node:24[-.]/);
  expect(readRepoFile('.nvmrc').trim()).toBe('24');
  const pkg = JSON.parse(readRepoFile('package.json')) as { devDependencies: Record<string, string> };
  expect(pkg.devDependencies.node).toMatch(/^\^24\./);
  // A comment that says what npm ci skips must match the command: scripts are ignored, in both npm commands.
  expect(dockerfile).toMatch(/^RUN npm ci .*--ignore-scripts/m);
  expect(dockerfile).toMatch(/npm prune --omit=dev --ignore-scripts/);
});
