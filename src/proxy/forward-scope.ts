/**
 * Which incoming request the proxy is forwarding right now. The engine creates the upstream ClientRequest
 * synchronously inside the forward call, so code observing ClientRequest creation (the tracing kind's client
 * spans, via Node's diagnostics channels) can tell which incoming request it belongs to without a global registry.
 * (A registry of in-flight requests in a long-lived Map made every request graph reachable from old space during
 * scavenges; V8 then pretenured the request objects and garbage collection cost a third of the proxy's CPU.)
 */
import type { IncomingMessage } from 'node:http';

let current: IncomingMessage | undefined;

/**
 * Runs `send(req, res)` with `req` as the request being forwarded; nesting restores the outer one. The arguments are
 * passed through rather than closed over, so the hot path hands in a function made once per upstream.
 */
export function forwarding<Res>(req: IncomingMessage, res: Res, send: (req: IncomingMessage, res: Res) => void): void {
  const outer = current;
  current = req;
  try {
    send(req, res);
  } finally {
    current = outer;
  }
}

/** The incoming request whose upstream call is being created, if the caller is inside `forwarding`. */
export function currentForward(): IncomingMessage | undefined {
  return current;
}
