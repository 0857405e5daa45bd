/**
 * Upstream keep-alive agents, one per origin, shared by every plan: a reload that keeps an upstream keeps its warm
 * sockets, and in-flight requests of the old plan are never cut by an agent being destroyed under them.
 */
import http from 'node:http';
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
