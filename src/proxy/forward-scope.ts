/**
 * Which incoming request the proxy is forwarding right now. The engine creates the upstream ClientRequest
 * synchronously inside the forward call, so code observing ClientRequest creation (the tracing kind's client
 * spans, via Node's diagnostics channels) can tell which incoming request it belongs to without a global registry.
 * (A registry of in-flight requests in a long-lived Map made every request graph reachable from old space during
 * scavenges; V8 then pretenured the request objects and garbage collection cost a third of the proxy's CPU.)
 */
import type { IncomingMessage } from 'node:http';
import { flushGroup } from '../turn.js';

/*
 * Module state, per process by nature: `current` is a synchronous dynamic scope (set and restored around one
 * synchronous call on the one JavaScript thread), and `dispatchingDepth` / `deferred` belong to the event-loop turn,
 * not to any request. Per-request state lives in the request's context (src/context.ts).
 */
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

/**
 * Forwards made while the edge dispatches a request synchronously (a chain with no asynchronous step) wait for the
 * end of the event-loop turn and leave together, after every request that turn's poll phase read; forwards that come
 * later (after a rate-limit reply, say) go at once. Measured (bench/README.md, "Forwards at the end of the turn"):
 * without middleware 0.82x -> 1.04x the engine's CPU per request, logging alone 0.69x -> 0.85x. Interleaving each
 * upstream write with the parsing of the next client request keeps waking the upstream and the proxy's core one
 * request at a time; batched, the writes of a turn go out back to back. Chains that already resume in a batch (the
 * Redis rate limit's coalesced reply) lose when deferred once more (0.78x -> 0.71x), so they are not.
 *
 * A deferred forward runs with its own request as the current forward and reads its state from that request's
 * context (`req.portico`), but in the async context (AsyncLocalStorage, the active OpenTelemetry span) of the
 * turn's flush (that of whichever request first scheduled work in the turn), not of its own request: capturing and restoring that per request would cost a snapshot object per
 * forward. Nothing on the forward path reads it: the upstream client span takes the request's trace from its
 * context (`req.portico.trace`) explicitly, and the upstream socket's events already run in the context that opened
 * the socket. A listener added on this path that read the active span would see another request's (or none):
 * test/unit/forward-scope.test.ts shows the limit.
 */
let dispatchingDepth = 0;
type Send<Res> = (req: IncomingMessage, res: Res) => void;
interface Closable {
  readonly destroyed: boolean;
}
/** The turn's deferred forwards, flat (request, response, send, ...): no object per request on the hot path. */
let deferred: unknown[] = [];
const turn = flushGroup();

function flushDeferred(): void {
  const batch = deferred;
  deferred = [];
  for (let i = 0; i < batch.length; i += 3) {
    const res = batch[i + 1] as Closable;
    // The client went away while the forward waited: nothing to send upstream (its close handlers already ran).
    if (!res.destroyed) forwarding(batch[i] as IncomingMessage, res, batch[i + 2] as Send<Closable>);
  }
}

/** Brackets the edge's synchronous dispatch of one request (no closure per request): forwards inside are deferred. */
export function beginSyncDispatch(): void {
  dispatchingDepth++;
}

export function endSyncDispatch(): void {
  dispatchingDepth--;
}

/** Forwards now, or at the end of the turn when called from within `dispatchingSync`. */
export function forwardInTurn<Res extends Closable>(req: IncomingMessage, res: Res, send: Send<Res>): void {
  if (dispatchingDepth === 0) {
    forwarding(req, res, send);
    return;
  }
  if (deferred.length === 0) turn.add(flushDeferred);
  deferred.push(req, res, send);
}
