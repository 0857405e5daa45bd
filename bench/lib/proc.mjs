// Child processes for the bench: spawned pinned to a core (taskset when present), readiness by polling, and
// what the kernel says about them (/proc: RSS, CPU time, open sockets) so any target is measured the same way.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { request } from 'node:http';

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

export function which(binary) {
  const found = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

/** A free loopback port (bind to 0, read, close: a small race, fine on a quiet loopback). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Spawns `command args` pinned to `cpu` (a taskset list like "1") when `pinning` is on. stdout/stderr go to
 * `logFile` (never piped through this process: the orchestrator shares a core with the load generator).
 */
export function spawnPinned({ cpu, pinning, command, args, logFile, env, cwd }) {
  const fd = logFile ? openSync(logFile, 'a') : 'ignore';
  const [bin, argv] =
    pinning && cpu !== undefined ? ['taskset', ['-c', String(cpu), command, ...args]] : [command, args];
  const child = spawn(bin, argv, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env }, cwd, detached: false });
  child.exitInfo = undefined;
  child.logFile = logFile;
  child.once('exit', (code, signal) => (child.exitInfo = { code, signal }));
  return child;
}

/** The last non-empty line a child wrote to its log (why it exited, usually). */
export function lastLogLine(child) {
  try {
    const lines = readFileSync(child.logFile, 'utf8').trim().split('\n');
    return lines[lines.length - 1]?.slice(0, 300) ?? '';
  } catch {
    return '';
  }
}

/** One GET; resolves `{ status, headers, body }` or rejects on a socket error or after `timeoutMs`. */
export function get(url, { headers = {}, timeoutMs = 2000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs}ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Polls `url` until `accept(response)` is true, the child exits, or `deadlineMs` passes. Resolves the last response;
 * rejects with the reason (exit code, last status or error) so a target can be reported as unavailable. An answer
 * that `fatal` accepts ends the wait at once (an answer that will not change, e.g. no such route).
 */
export async function waitReady(
  url,
  { child, deadlineMs = 30_000, accept = (r) => r.status === 200, fatal = () => false, headers } = {},
) {
  const until = Date.now() + deadlineMs;
  let last = 'no answer';
  while (Date.now() < until) {
    if (child?.exitInfo) throw new Error(`exited (code ${child.exitInfo.code}) before ready: ${lastLogLine(child)}`);
    try {
      const response = await get(url, { headers, timeoutMs: 1000 });
      if (accept(response)) return response;
      last = `status ${response.status}: ${response.body.slice(0, 200)}`;
      if (fatal(response)) break;
    } catch (err) {
      last = err.message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`not ready (${last})`);
}

/** Sends `signal`, waits up to `graceMs` for exit, then SIGKILL. Only ever called on children this bench spawned. */
export async function stop(child, { signal = 'SIGTERM', graceMs = 5000 } = {}) {
  if (!child || child.exitInfo || child.exitCode !== null) return child?.exitInfo;
  const exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve({ code, signal: sig })));
  child.kill(signal);
  const timer = new Promise((resolve) => setTimeout(() => resolve(undefined), graceMs));
  const result = await Promise.race([exited, timer]);
  if (result) return result;
  child.kill('SIGKILL');
  return exited;
}

/** The pid and all its descendants (nginx master + worker; taskset execs in place so its pid is the target's). */
export function processTree(pid) {
  const pids = [pid];
  for (let i = 0; i < pids.length && i < 64; i++) {
    try {
      for (const tid of readdirSync(`/proc/${pids[i]}/task`)) {
        const children = readFileSync(`/proc/${pids[i]}/task/${tid}/children`, 'utf8').trim();
        if (children) pids.push(...children.split(/\s+/).map(Number));
      }
    } catch {
      // the process went away between listing and reading: skip it
    }
  }
  return pids;
}

const heldPids = new Set();
let releasing = false;

/** Ctrl-C or a kill of the bench lets held targets go first: a stopped child would not act on its own signal. */
function releaseOnInterrupt() {
  if (releasing) return;
  releasing = true;
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ]) {
    process.once(signal, () => {
      for (const pid of heldPids) holdTree(pid, false);
      process.exit(code);
    });
  }
}

/**
 * Holds a process and its descendants still (SIGSTOP) or lets them run again (SIGCONT). Only ever called on
 * children this bench spawned.
 */
export function holdTree(pid, held) {
  if (held) {
    heldPids.add(pid);
    releaseOnInterrupt();
  } else heldPids.delete(pid);
  for (const p of processTree(pid)) {
    try {
      process.kill(p, held ? 'SIGSTOP' : 'SIGCONT');
    } catch {
      // gone
    }
  }
}

/** Sums `read(pid)` over the tree; a process that exits meanwhile counts 0. */
function sumOverTree(pid, read) {
  let total = 0;
  for (const p of processTree(pid)) {
    try {
      total += read(p);
    } catch {
      // gone
    }
  }
  return total;
}

/** Resident set size in bytes (VmRSS), summed over the tree; 0 when gone. */
export function rssBytes(pid) {
  return sumOverTree(
    pid,
    (p) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) * 1024,
  );
}

/** User + system CPU time in microseconds, summed over the tree. */
export function cpuMicros(pid) {
  const ticks = sumOverTree(pid, (p) => {
    const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
  });
  return (ticks * 1e6) / CLOCK_TICKS;
}

/**
 * Busy microseconds of one CPU (all processes, from /proc/stat), or undefined. Minus the target's own CPU time over
 * the same interval, it is what other processes took from the core the target is pinned to. (A thread's run-queue
 * wait would not do: a Node process's own GC and libuv threads, pinned to the same core, make its main thread wait.)
 */
export function cpuBusyMicros(cpu) {
  if (cpu === undefined) return undefined;
  const line = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`cpu${cpu} `));
  if (!line) return undefined;
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return ((user + nice + system + irq + softirq + (steal ?? 0)) * 1e6) / CLOCK_TICKS;
}

/** Open socket file descriptors of one process (not its children). */
export function openSockets(pid) {
  try {
    let sockets = 0;
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
      } catch {
        // closed while listing
      }
    }
    return sockets;
  } catch {
    return -1;
  }
}
