/**
 * Upstream keep-alive agents, one per origin, shared by every plan: a reload that keeps an upstream keeps its warm
 * sockets, and in-flight requests of the old plan are never cut by an agent being destroyed under them.
 *
 * A request that finds every one of the origin's `maxSockets` busy waits in the agent's queue (`agent.requests`),
 * where Node sets no deadline: its timeout starts only once a socket is assigned. The agents here note the request
 * their last `addRequest` had to queue, so the forwarder can bound that wait (src/proxy/forward.ts) without a timer
 * for the requests that get a socket at once. Contract (Node's http client, relied on by `noteQueued` and tested in
 * test/hardening/pool.test.ts): `http.request` hands the request to `agent.addRequest` synchronously, and a request
 * that had to wait is then the last entry of one of the `agent.requests` queues.
 */
import http, { type ClientRequest } from 'node:http';
import https from 'node:https';

export interface AgentSettings {
  readonly maxSockets: number;
  /** Idle sockets close after this; keep it below the upstream's own keep-alive timeout (Node's default is 5s). */
  readonly idleTimeout: number;
}

export interface AgentPool {
  agentFor(url: URL): http.Agent;
  destroy(): void;
}

/** State of the agent (its last `addRequest`), handed over synchronously; no request keeps it. */
const QUEUED = Symbol('portico.queued');

type Queues = Record<string, ClientRequest[] | undefined>;
interface Noting {
  [QUEUED]?: ClientRequest | undefined;
}
type AddRequest = (this: http.Agent, req: ClientRequest, options: http.RequestOptions) => void;

const addRequest = (http.Agent.prototype as unknown as { addRequest: AddRequest }).addRequest;

/** `addRequest` that also notes whether the request had to queue. The loop is empty unless something waits. */
function addRequestNotingQueue(this: http.Agent & Noting, req: ClientRequest, options: http.RequestOptions): void {
  addRequest.call(this, req, options);
  let queued: ClientRequest | undefined;
  const queues = this.requests as unknown as Queues;
  for (const name in queues) {
    const queue = queues[name];
    if (queue !== undefined && queue[queue.length - 1] === req) queued = req;
  }
  this[QUEUED] = queued;
}

/** The request the agent's last `addRequest` queued, if it queued one; read right after the call that made it. */
export function takeQueued(agent: http.Agent): ClientRequest | undefined {
  const noting = agent as http.Agent & Noting;
  const queued = noting[QUEUED];
  if (queued !== undefined) noting[QUEUED] = undefined;
  return queued;
}

/**
 * Takes a request that gave up waiting out of the agent's queue, so it neither holds memory until a socket frees
 * nor receives that socket. True when it was still queued.
 */
export function dropQueued(agent: http.Agent, req: ClientRequest): boolean {
  const queues = agent.requests as unknown as Queues;
  for (const name in queues) {
    const queue = queues[name];
    const at = queue === undefined ? -1 : queue.indexOf(req);
    if (queue === undefined || at === -1) continue;
    queue.splice(at, 1);
    if (queue.length === 0) delete queues[name]; // Node's own invariant: no empty queue stays listed
    return true;
  }
  return false;
}

export function createAgentPool(settings: AgentSettings): AgentPool {
  const agents = new Map<string, http.Agent>();
  const options: http.AgentOptions = {
    keepAlive: true,
    maxSockets: settings.maxSockets,
    maxFreeSockets: 256,
    timeout: settings.idleTimeout,
    scheduling: 'lifo', // reuse the most recently used socket: the least likely to have been closed by the upstream
  };
  return {
    agentFor(url) {
      let agent = agents.get(url.origin);
      if (agent === undefined) {
        agent = url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
        (agent as unknown as { addRequest: AddRequest }).addRequest = addRequestNotingQueue;
        agents.set(url.origin, agent);
      }
      return agent;
    },
    destroy() {
      for (const agent of agents.values()) agent.destroy();
      agents.clear();
    },
  };
}
