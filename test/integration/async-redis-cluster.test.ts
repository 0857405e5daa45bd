/**
 * Async routes on a Redis Cluster (3 masters): each route's keys share its hash tag, so every script runs on the
 * node of that slot; two routes, two instances, all tasks delivered, dead letters listed and retried.
 */
import { request, waitFor } from '../helpers/http.js';
import { testConfig } from '../helpers/portico.js';
import { startInstances, type Instances } from '../helpers/instances.js';
import { startRedisCluster, type Deployment } from '../helpers/redis-cluster.js';
import { idempotentUpstream, type IdempotentUpstream } from '../helpers/tasks.js';
import { START_TIMEOUT_MS } from '../helpers/wait.js';

let cluster: Deployment | undefined;
let instances: Instances | undefined;
let up: IdempotentUpstream | undefined;
let refuse = true;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  up = await idempotentUpstream((req, res) => {
    if (!refuse || !req.url?.endsWith('/bad')) return false;
    res.writeHead(422).end();
    return true;
  });
  const nodes = cluster.nodes.map((node) => node.address).join(', ');
  const route = (name: string) => `  - name: ${name}
    match: { pathPrefix: /${name} }
    upstream: ${up?.upstream.url}
    async: { backoff: 10ms, attemptTimeout: 2s, claimIdle: 3s }
`;
  const config = testConfig(`redis:\n  cluster: [${nodes}]\nroutes:\n${route('orders')}${route('emails')}`);
  instances = await startInstances(config, 2);
}, START_TIMEOUT_MS);

afterAll(async () => {
  await instances?.close();
  await up?.upstream.close();
  await cluster?.close();
});

test('tasks of two routes, accepted by two instances, are all delivered; dead letters are retried', async () => {
  const list = instances as Instances;
  const accept = async (i: number, path: string): Promise<string> => {
    const res = await waitFor(async () => {
      const answer = await request(`${list.portico(i).proxyUrl}${path}`, { method: 'POST', body: 'x' });
      return answer.status === 202 ? answer : undefined; // the cluster clients may still be discovering slots
    });
    return (JSON.parse(res.body) as { id: string }).id;
  };
  const ids: string[] = [];
  for (let i = 0; i < 40; i++) ids.push(await accept(i, `/${i % 2 === 0 ? 'orders' : 'emails'}/${i}`));
  const target = up as IdempotentUpstream;
  await waitFor(() => ids.every((id) => target.applied.has(id)), { timeoutMs: 20_000 });
  const bad = await accept(0, '/emails/bad');
  await waitFor(async () => {
    const res = await request(`${list.portico(1).adminUrl}/tasks/dead`);
    return (JSON.parse(res.body) as { deadLetters: Array<{ id: string }> }).deadLetters.some((l) => l.id === bad);
  });
  refuse = false;
  const retried = await request(`${list.portico(1).adminUrl}/tasks/dead/${bad}/retry`, { method: 'POST' });
  expect(JSON.parse(retried.body)).toEqual({ retried: 1 });
  await waitFor(() => target.applied.has(bad));
  const status = await request(`${list.portico(0).proxyUrl}/_portico/tasks/emails/${bad}`);
  expect(JSON.parse(status.body)).toMatchObject({ status: 'succeeded', attempts: 1 });
}, 60_000);
