/**
 * deploy/kubernetes, checked offline: the manifests parse and validate against the Kubernetes API's OpenAPI schema
 * (as compiled by the kubernetes-models package), the pod meets the `restricted` Pod Security Standard, and every
 * field Portico depends on agrees with the config in the ConfigMap (which must pass Portico's own loader with the
 * pod's environment) and with the image.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Config } from '../../src/config/schema.js';
import { dockerfileContract, loadEmbeddedConfig, readRepoFile, ROOT } from '../helpers/deploy.js';
import { unknownFields } from '../helpers/kubernetes-strict.js';

const DIR = 'deploy/kubernetes';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Probe {
  httpGet: { path: string; port: string | number; httpHeaders?: Array<{ name: string; value: string }> };
}
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  seccompProfile?: { type: string };
  capabilities?: { drop?: string[]; add?: string[] };
}
interface Container {
  name: string;
  image: string;
  env?: EnvVar[];
  ports?: Array<{ name: string; containerPort: number }>;
  volumeMounts?: Array<{ name: string; mountPath: string; subPath?: string }>;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: unknown; sleep?: { seconds: number } } };
  securityContext?: SecurityContext;
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
        securityContext?: SecurityContext;
        hostNetwork?: boolean;
        hostPID?: boolean;
        hostIPC?: boolean;
        initContainers?: Container[];
        containers: Container[];
        volumes: Array<{ name: string; configMap?: { name: string } } & Record<string, unknown>>;
      };
    };
  };
}

const files = readdirSync(join(ROOT, DIR)).filter((file) => file.endsWith('.yaml'));
/** kustomization.yaml is kustomize's input, not an object of the Kubernetes API. */
function isApiObject(file: string): boolean {
  return file !== 'kustomization.yaml';
}
const manifests: Manifest[] = files.filter(isApiObject).flatMap((file) =>
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
/** The kubelet's own sleep: an `exec` of `sleep` needs the binary in the image (a distroless one has none). */
const preStopSeconds = (container: Container): number => {
  expect(container.lifecycle?.preStop?.exec).toBeUndefined();
  return container.lifecycle?.preStop?.sleep?.seconds as number;
};

test('every manifest validates against the Kubernetes OpenAPI schema (offline, kubernetes-models)', () => {
  const output = execFileSync(process.execPath, [join(ROOT, 'test/helpers/kubernetes-schema.mjs')], {
    cwd: ROOT,
    input: JSON.stringify(manifests),
    encoding: 'utf8',
    timeout: 60_000,
  });
  const results = JSON.parse(output) as Array<{ kind: string; name: string; errors: string[] }>;
  expect(results.map((r) => r.kind).sort()).toEqual(manifests.map((m) => m.kind).sort());
  expect(results.filter((r) => r.errors.length > 0)).toEqual([]);
});

test('no manifest has a field the Kubernetes API does not know (a typo there is silently dropped)', () => {
  expect(unknownFields(manifests as unknown as Array<{ apiVersion: string; kind: string }>)).toEqual([]);
  // The check notices one.
  const typo = structuredClone(deployment) as unknown as {
    apiVersion: string;
    kind: string;
    spec: { replica: number };
  };
  typo.spec.replica = 3;
  expect(unknownFields([typo])).toEqual([expect.stringContaining('\'"replica"\' does not exist')]);
});

/** The `restricted` profile (https://kubernetes.io/docs/concepts/security/pod-security-standards/), per field. */
function restrictedViolations(spec: typeof pod): string[] {
  const problems: string[] = [];
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) problems.push('host namespaces');
  const allowedVolumes = new Set([
    'configMap',
    'csi',
    'downwardAPI',
    'emptyDir',
    'ephemeral',
    'persistentVolumeClaim',
    'projected',
    'secret',
  ]);
  for (const volume of spec.volumes)
    for (const type of Object.keys(volume).filter((key) => key !== 'name'))
      if (!allowedVolumes.has(type)) problems.push(`volume ${volume.name}: ${type}`);
  const podContext = spec.securityContext ?? {};
  for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
    const own = container.securityContext ?? {};
    const where = `container ${container.name}`;
    if ((own.runAsNonRoot ?? podContext.runAsNonRoot) !== true) problems.push(`${where}: runAsNonRoot`);
    if ((own.runAsUser ?? podContext.runAsUser) === 0) problems.push(`${where}: runAsUser 0`);
    const seccomp = (own.seccompProfile ?? podContext.seccompProfile)?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') problems.push(`${where}: seccompProfile`);
    if (own.privileged) problems.push(`${where}: privileged`);
    if (own.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation`);
    if (!own.capabilities?.drop?.includes('ALL')) problems.push(`${where}: capabilities.drop ALL`);
    for (const cap of own.capabilities?.add ?? [])
      if (cap !== 'NET_BIND_SERVICE') problems.push(`${where}: capabilities.add ${cap}`);
    // Not in the profile, but asked of this example: nothing writes to the image.
    if (own.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem`);
  }
  return problems;
}

test('the pod meets the restricted Pod Security Standard, on a read-only root filesystem', () => {
  expect(restrictedViolations(pod)).toEqual([]);
  // The check itself notices a violation.
  const loose = { ...pod, containers: pod.containers.map((c) => ({ ...c, securityContext: {} })) };
  expect(restrictedViolations(loose).length).toBeGreaterThan(pod.containers.length);
});

test("the app's readiness is probed through Portico's port, on a route to the app that no rate limit counts", () => {
  const probe = app.readinessProbe?.httpGet;
  expect(probe?.port).toBe('http');
  // The route that takes the probe's path: the longest matching prefix (no host or method on these routes).
  const route = config.routes
    .filter((r) => (probe?.path as string).startsWith(r.match.pathPrefix))
    .sort((a, b) => b.match.pathPrefix.length - a.match.pathPrefix.length)[0];
  expect(route?.upstream.map((url) => url.host)).toEqual([`${envOf(app).HOST}:${envOf(app).PORT}`]);
  expect(JSON.stringify(route?.middleware)).not.toContain('rateLimit');
});

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
