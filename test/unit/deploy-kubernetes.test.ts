/**
 * deploy/kubernetes, checked offline: the manifests parse, and every field Portico depends on agrees with the
 * config in the ConfigMap (which must pass Portico's own loader with the pod's environment) and with the image.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Config } from '../../src/config/schema.js';
import { dockerfileContract, loadEmbeddedConfig, readRepoFile, ROOT } from '../helpers/deploy.js';

const DIR = 'deploy/kubernetes';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Probe {
  httpGet: { path: string; port: string | number; httpHeaders?: Array<{ name: string; value: string }> };
}
interface Container {
  name: string;
  image: string;
  env?: EnvVar[];
  ports?: Array<{ name: string; containerPort: number }>;
  volumeMounts?: Array<{ name: string; mountPath: string; subPath?: string }>;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  securityContext?: { runAsNonRoot?: boolean };
}
interface Manifest {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: {
    selector?: Record<string, string>;
    ports?: Array<{ port: number; targetPort: string | number }>;
    template?: {
      metadata: { labels: Record<string, string> };
      spec: {
        terminationGracePeriodSeconds: number;
        containers: Container[];
        volumes: Array<{ name: string; configMap?: { name: string } }>;
      };
    };
  };
}

const files = readdirSync(join(ROOT, DIR)).filter((file) => file.endsWith('.yaml'));
const manifests: Manifest[] = files.flatMap((file) =>
  parseAllDocuments(readRepoFile(join(DIR, file))).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
    return doc.toJS() as Manifest;
  }),
);

function one(kind: string): Manifest {
  const found = manifests.filter((m) => m.kind === kind);
  expect(found).toHaveLength(1);
  return found[0] as Manifest;
}

const deployment = one('Deployment');
const pod = deployment.spec?.template?.spec as NonNullable<NonNullable<Manifest['spec']>['template']>['spec'];
const portico = pod.containers.find((c) => c.name === 'portico') as Container;
const app = pod.containers.find((c) => c.name === 'app') as Container;
const secret = one('Secret');
const configMap = one('ConfigMap');

function port(container: Container, name: string): number {
  const found = container.ports?.find((p) => p.name === name)?.containerPort;
  if (found === undefined) throw new Error(`${container.name} has no port "${name}"`);
  return found;
}

/** The container's environment as the process sees it, Secret references resolved from secret.yaml. */
function envOf(container: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    const ref = variable.valueFrom?.secretKeyRef;
    if (ref) {
      expect(ref.name).toBe(secret.metadata.name);
      env[variable.name] = secret.stringData?.[ref.key] as string;
    } else env[variable.name] = variable.value as string;
  }
  return env;
}

const env = envOf(portico);
const config: Config = loadEmbeddedConfig(configMap.data?.['portico.yaml'] as string, 'configmap/portico.yaml', env);
const preStopSeconds = (container: Container): number => {
  const command = container.lifecycle?.preStop?.exec?.command ?? [];
  expect(command[0]).toBe('sleep');
  return Number(command[1]);
};

test('kustomization lists every manifest in the folder', () => {
  const kustomization = parseAllDocuments(readRepoFile(join(DIR, 'kustomization.yaml')))[0]?.toJS() as {
    resources: string[];
  };
  expect([...kustomization.resources].sort()).toEqual(files.filter((f) => f !== 'kustomization.yaml').sort());
});

test("the ConfigMap config passes Portico's loader with the pod's environment", () => {
  expect(config.server.listen).toEqual({ host: '0.0.0.0', port: port(portico, 'http') });
  expect(config.server.admin).toEqual({ host: '0.0.0.0', port: port(portico, 'admin') });
  expect(config.server.adminToken).toBe(secret.stringData?.['admin-token']);
  expect(config.redis.url).toBe(secret.stringData?.['redis-url']);
});

test('Portico owns the Service port; the app listens on loopback only', () => {
  const service = one('Service');
  expect(service.spec?.selector).toEqual(deployment.spec?.template?.metadata.labels);
  expect(service.spec?.ports?.map((p) => p.targetPort)).toEqual(['http']);
  expect(app.ports ?? []).toEqual([]);
  const upstreams = config.routes.flatMap((route) => route.upstream);
  expect(upstreams.length).toBeGreaterThan(0);
  for (const url of upstreams) {
    expect(url.hostname).toBe(envOf(app).HOST);
    expect(url.port).toBe(envOf(app).PORT);
  }
  expect(envOf(app).HOST).toBe('127.0.0.1');
});

test('the config comes from the ConfigMap at the path the image reads, as a directory mount (updates reach the pod)', () => {
  const volume = pod.volumes.find((v) => v.configMap?.name === configMap.metadata.name);
  const mount = portico.volumeMounts?.find((m) => m.name === volume?.name);
  expect(mount?.subPath).toBeUndefined();
  expect(join(mount?.mountPath as string, 'portico.yaml')).toBe(env.PORTICO_CONFIG);
  expect(env.PORTICO_CONFIG).toBe(dockerfileContract().env.PORTICO_CONFIG);
});

test('liveness is /healthz and readiness /readyz on the admin port, with no token in the manifest', () => {
  for (const [probe, path] of [
    [portico.livenessProbe, '/healthz'],
    [portico.readinessProbe, '/readyz'],
  ] as const) {
    expect(probe?.httpGet.path).toBe(path);
    expect(probe?.httpGet.port).toBe('admin');
    expect(probe?.httpGet.httpHeaders).toBeUndefined();
  }
});

test("the grace period outlasts preStop, the request drain and the pool drain; the app outlives Portico's drain", () => {
  const drainSeconds = config.server.drainTimeout / 1000;
  const porticoPreStop = preStopSeconds(portico);
  expect(porticoPreStop).toBeGreaterThan(0);
  expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(porticoPreStop + 2 * drainSeconds);
  expect(preStopSeconds(app)).toBeGreaterThanOrEqual(porticoPreStop + drainSeconds);
  expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStopSeconds(app));
});

test('ports and user agree with the image', () => {
  const image = dockerfileContract();
  expect([port(portico, 'http'), port(portico, 'admin')]).toEqual(image.exposed);
  expect(image.user).toBe('node');
  expect(portico.securityContext?.runAsNonRoot).toBe(true);
  expect(dirname(image.env.PORTICO_CONFIG as string)).toBe('/etc/portico');
});
