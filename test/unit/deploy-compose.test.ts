/**
 * deploy/compose, checked offline (docker cannot run on the build machines): the compose file parses with merge
 * keys as Compose reads it, stays in step with the Dockerfile, and the Portico config it mounts passes Portico's
 * loader with the replicas' environment.
 */
import { join } from 'node:path';
import { parse } from 'yaml';
import { redisMode } from '../../src/stores/config.js';
import { dockerfileContract, loadEmbeddedConfig, readRepoFile, ROOT } from '../helpers/deploy.js';

interface Service {
  build?: { context: string; dockerfile: string };
  image?: string;
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test?: string[]; disable?: boolean };
  stop_grace_period?: string;
  depends_on?: Record<string, { condition: string }>;
}

const DIR = 'deploy/compose';
const compose = parse(readRepoFile(join(DIR, 'compose.yaml')), { merge: true }) as {
  services: Record<string, Service>;
};
const services = compose.services;
const replicas = ['portico-1', 'portico-2'].map((name) => services[name] as Service);
const image = dockerfileContract();

function configOf(service: Service) {
  const mount = service.volumes?.find((volume) => volume.includes(`:${service.environment?.PORTICO_CONFIG}`));
  expect(mount).toBeDefined();
  const host = (mount as string).split(':')[0] as string;
  return loadEmbeddedConfig(readRepoFile(join(DIR, host)), join(DIR, host), service.environment ?? {});
}

test('a demo upstream, Redis, PostgreSQL, a one-shot seed and two Portico replicas', () => {
  expect(Object.keys(services).sort()).toEqual(['portico-1', 'portico-2', 'postgres', 'redis', 'seed', 'upstream']);
});

test("the replicas build the repository's Dockerfile and use its config path, ports and stop signal", () => {
  expect(image.stopSignal).toBe('SIGTERM');
  for (const service of [...replicas, services.seed as Service]) {
    expect(join(ROOT, DIR, service.build?.context as string, service.build?.dockerfile as string)).toBe(
      join(ROOT, 'Dockerfile'),
    );
    expect(service.environment?.PORTICO_CONFIG).toBe(image.env.PORTICO_CONFIG);
  }
  const published = replicas
    .flatMap((service) => service.ports ?? [])
    .map((mapping) => Number(mapping.split(':').at(-1)));
  expect(new Set(published)).toEqual(new Set(image.exposed));
  // The seed runs the image's CLI with the mounted config.
  expect(services.seed?.entrypoint).toEqual([
    'node',
    'dist/cli.js',
    'seed',
    '--config',
    image.env.PORTICO_CONFIG,
    '--count',
    '100',
  ]);
});

test("both replicas share one Redis and one database, and run the same config through Portico's loader", () => {
  const configs = replicas.map(configOf);
  for (const config of configs) {
    expect(redisMode(config.redis)).toBe('single');
    expect(new URL(config.redis.url).hostname).toBe('redis');
    expect(new URL(config.database.url).hostname).toBe('postgres');
    expect(config.routes[0]?.upstream[0]?.hostname).toBe('upstream');
    expect(config.server.admin.host).toBe('0.0.0.0');
    expect(config.server.adminToken).toBe(replicas[0]?.environment?.PORTICO_ADMIN_TOKEN);
    expect(config.rateLimits['per-client']?.limit).toBe(20);
  }
  expect(configs[0]).toEqual(configs[1]);
});

test("the image's health check serves (no token needed for /healthz); docker stop waits out both drains", () => {
  const dockerfile = readRepoFile('Dockerfile');
  const check = JSON.parse(/^HEALTHCHECK .*\\\n\s*CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
  expect(check).toEqual(['node', 'dist/admin/healthcheck.js']);
  const script = readRepoFile('src/admin/healthcheck.ts');
  expect(script).toContain('/healthz');
  expect(script).not.toMatch(/authorization|TOKEN/i);
  for (const [index, service] of replicas.entries()) {
    expect(service.healthcheck).toBeUndefined();
    expect(service.environment?.PORTICO_ADMIN).toBe(`0.0.0.0:${image.exposed[1]}`);
    const grace = Number(/^(\d+)s$/.exec(service.stop_grace_period ?? '')?.[1]);
    expect(grace * 1000).toBeGreaterThan(2 * configOf(service).server.drainTimeout);
    expect(service.depends_on).toMatchObject({
      redis: { condition: 'service_healthy' },
      seed: { condition: 'service_completed_successfully' },
    });
    expect(service.ports?.[0]).toBe(`808${index + 1}:8080`);
  }
});

test("deploy/README.md's Compose section says what the compose file does", () => {
  const readme = readRepoFile('deploy/README.md');
  const start = readme.indexOf('## Compose');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  expect(start).toBeGreaterThan(-1);
  for (const name of Object.keys(services)) expect(section).toContain(`\`${name.replace(/-\d$/, '')}`);
  for (const service of replicas)
    for (const mapping of service.ports ?? []) {
      const [host] = mapping.split(':').slice(-2);
      expect(section).toContain(host);
    }
  expect(section).toContain(replicas[0]?.environment?.PORTICO_ADMIN_TOKEN);
  expect(section).toContain(replicas[0]?.stop_grace_period);
  // The replicas keep the image's health check: the README must not describe an override that is not there.
  expect(replicas.every((service) => service.healthcheck === undefined)).toBe(true);
  expect(section).not.toMatch(/overrides? the image's health ?check/i);
  expect(section).toMatch(/image's own health check/);
});
