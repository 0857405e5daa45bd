/**
 * Throwaway Redis deployments beyond one node, on spare loopback ports, as child processes stopped by their pids,
 * with their files in a temporary directory removed at close:
 * - a Cluster (`redis-server --cluster-enabled yes`, then `redis-cli --cluster create`), masters and replicas;
 * - a Sentinel set: one master, optional replicas, sentinels monitoring it.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { launch, stop } from './redis-server.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

export interface NodeProcess {
  readonly port: number;
  readonly address: string;
  /** SIGKILL, as a crash would; resolves once the process is gone. */
  kill(): Promise<void>;
}

export interface Deployment {
  readonly nodes: readonly NodeProcess[];
  /** Kills every process still running and removes the temporary directory. */
  close(): Promise<void>;
}

async function bindable(port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A free port whose cluster bus port (+10000) is free and valid too. */
export async function spareNodePort(taken: ReadonlySet<number> = new Set()): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 35_000);
    if (!taken.has(port) && (await bindable(port)) && (await bindable(port + 10_000))) return port;
  }
  throw new Error('no spare port pair for a Redis node');
}

async function redisCli(args: readonly string[], timeoutMs = 10_000): Promise<string> {
  const { stdout } = await run('redis-cli', [...args], { timeout: timeoutMs });
  return stdout;
}

/** `SENTINEL REPLICAS` as redis-cli prints it to a pipe (one field per line, name and value by turns), as records. */
function sentinelReplicas(output: string): Array<Record<string, string>> {
  const lines = output.split('\n').filter((line) => line !== '');
  const records: Array<Record<string, string>> = [];
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const key = lines[i] as string;
    if (key === 'name' || records.length === 0) records.push({});
    (records[records.length - 1] as Record<string, string>)[key] = lines[i + 1] as string;
  }
  return records;
}

/**
 * How long one step of a deployment's start may take (ms): a replica's first sync, a cluster's agreement, a
 * sentinel's view of the replicas. Under a second idle; several on a busy machine. The hooks that start a
 * deployment allow START_TIMEOUT_MS for all of it.
 */
const STEP_TIMEOUT_MS = 30_000;

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  await waitFor(check, { timeoutMs: STEP_TIMEOUT_MS, intervalMs: 50, message: what });
}

async function startNodes(
  count: number,
  dir: string,
  args: (port: number) => readonly string[],
): Promise<Array<{ port: number; child: ChildProcess }>> {
  const taken = new Set<number>();
  const started: Array<{ port: number; child: ChildProcess }> = [];
  try {
    for (let i = 0; i < count; i++) {
      const port = await spareNodePort(taken);
      taken.add(port);
      // A replica's first sync starts at once, not after the default 5s pause of a diskless sync.
      started.push({
        port,
        child: await launch(port, { args: ['--dir', dir, '--repl-diskless-sync-delay', '0', ...args(port)] }),
      });
    }
  } catch (err) {
    for (const { child } of started) await stop(child);
    throw err;
  }
  return started;
}

/** Waits until every replica among `nodes` has finished its first sync (a replica that has not cannot take over). */
async function replicasInSync(nodes: readonly NodeProcess[]): Promise<void> {
  for (const node of nodes) {
    await until(async () => {
      const info = await redisCli(['-p', String(node.port), 'info', 'replication']);
      return info.includes('role:master') || info.includes('master_link_status:up');
    }, `${node.address} to finish its first sync`);
  }
}

function processes(started: ReadonlyArray<{ port: number; child: ChildProcess }>): NodeProcess[] {
  return started.map(({ port, child }) => ({ port, address: `127.0.0.1:${port}`, kill: () => stop(child) }));
}

function deployment(started: Array<{ port: number; child: ChildProcess }>, dir: string): Deployment {
  return {
    nodes: processes(started),
    async close() {
      for (const { child } of started) await stop(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface ClusterOptions {
  readonly masters?: number;
  readonly replicas?: number;
  /** How long (ms) a master may be unreachable before it is failed and its replica takes over. */
  readonly nodeTimeout?: number;
  /** Redis' `cluster-require-full-coverage`: yes (the default) stops every slot while one has no master. */
  readonly requireFullCoverage?: boolean;
}

/** A cluster; resolves once every node reports `cluster_state:ok` and every replica has synced. */
export async function startRedisCluster(options: ClusterOptions = {}): Promise<Deployment> {
  const { masters = 3, replicas = 0, nodeTimeout = 1000, requireFullCoverage = true } = options;
  const dir = await mkdtemp(join(tmpdir(), 'portico-cluster-'));
  const started = await startNodes(masters * (1 + replicas), dir, (port) => [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    `nodes-${port}.conf`,
    '--cluster-node-timeout',
    String(nodeTimeout),
    '--cluster-require-full-coverage',
    requireFullCoverage ? 'yes' : 'no',
  ]).catch(async (err: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw err;
  });
  const cluster = deployment(started, dir);
  try {
    const addresses = cluster.nodes.map((node) => node.address);
    await redisCli(
      ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'],
      STEP_TIMEOUT_MS,
    );
    for (const node of cluster.nodes) {
      await until(
        async () => (await redisCli(['-p', String(node.port), 'cluster', 'info'])).includes('cluster_state:ok'),
        `${node.address} cluster_state:ok`,
      );
    }
    await replicasInSync(cluster.nodes);
    return cluster;
  } catch (err) {
    await cluster.close();
    throw err;
  }
}

/**
 * A master with `replicas` replicas and `sentinels` sentinels monitoring it as `name` (quorum 1). Resolves once
 * every sentinel knows the master and all replicas.
 */
export async function startRedisSentinels(options: {
  name: string;
  replicas?: number;
  sentinels?: number;
}): Promise<Deployment & { sentinels: readonly NodeProcess[] }> {
  const { name, replicas = 0, sentinels = 1 } = options;
  const dir = await mkdtemp(join(tmpdir(), 'portico-sentinel-'));
  const data = await startNodes(1, dir, () => []);
  const master = data[0]?.port as number;
  const all = [...data];
  const sentinelProcesses: Array<{ port: number; child: ChildProcess }> = [];
  const close = async (): Promise<void> => {
    for (const { child } of [...sentinelProcesses, ...all]) await stop(child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    all.push(...(await startNodes(replicas, dir, () => ['--replicaof', '127.0.0.1', String(master)])));
    await replicasInSync(processes(all));
    const taken = new Set(all.map((node) => node.port));
    for (let i = 0; i < sentinels; i++) {
      const port = await spareNodePort(taken);
      taken.add(port);
      const configFile = join(dir, `sentinel-${port}.conf`);
      await writeFile(
        configFile,
        `sentinel monitor ${name} 127.0.0.1 ${master} 1\nsentinel down-after-milliseconds ${name} 1000\nsentinel failover-timeout ${name} 5000\n`,
      );
      sentinelProcesses.push({
        port,
        child: await launch(port, { configFile, args: ['--sentinel', '--dir', dir], ready: '+monitor master' }),
      });
    }
    for (const { port } of sentinelProcesses) {
      // Known is not enough: a replica the sentinel has not yet had an INFO reply from, or sees as disconnected, is
      // not eligible for promotion, and a failover asked for then fails with NOGOODSLAVE.
      await until(async () => {
        const known = sentinelReplicas(await redisCli(['-p', String(port), 'sentinel', 'replicas', name]));
        return (
          known.filter((replica) => replica.flags === 'slave' && Number(replica['info-refresh']) < 5000).length >=
          replicas
        );
      }, `sentinel on ${port} to see ${replicas} replicas eligible for promotion`);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { nodes: processes(all), sentinels: processes(sentinelProcesses), close };
}
