/**
 * Config → immutable runtime plan: matcher, compiled chains, forwarders, agents. A reload builds a new plan and
 * swaps it; requests keep the plan they started with (they hold a reference to it, not to a global).
 */
import { createHash } from 'node:crypto';
import type { BlockList, Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config, MiddlewareEntryConfig, RouteConfig } from '../config/schema.js';
import { toBlockList } from '../config/schema.js';
import { PorticoError, sendError, sendProblem } from '../errors.js';
import type { BuiltinRoute, Handler, KindDeps, KindScope } from '../middleware/kind.js';
import { entryKindName, resolveEntry, type KindRegistry } from '../middleware/entries.js';
import { watchBody, type BodyDeadlines } from '../proxy/body-timeout.js';
import { createForwarder, classifyUpstreamError, type UpstreamProxies } from '../proxy/forward.js';
import type { AgentPool } from '../proxy/agents.js';
import { createMirror } from '../proxy/mirror.js';
import type { TaskRunner } from '../pool/pool.js';
import type { TaskService } from '../tasks/index.js';
import { bodyToForward, captureBody } from '../middleware/express/body.js';
import { EXPRESS_KIND } from '../middleware/express/index.js';
import { compose, type Terminal } from './chain.js';
import { compileRules, matchRoute, stripPrefix, type CompiledRule } from './match.js';
import type { UpstreamErrorKind } from '../telemetry/metrics.js';
import { buildUpstreamSet } from '../upstream/build.js';
import { createResilientForwarder } from '../upstream/forwarder.js';
import type { RouteHealth, UpstreamSet } from '../upstream/set.js';
import { createUpstreamStates, type UpstreamState, type UpstreamStates } from '../upstream/state.js';

export interface PlanDeps extends KindDeps {
  readonly registry: KindRegistry;
  readonly builtins: readonly BuiltinRoute[];
  readonly proxies: UpstreamProxies;
  readonly agents: AgentPool;
  /** Runs mirrored copies; without it a route's `mirror` is inert. */
  readonly pool?: TaskRunner;
  /** What is known of each upstream, shared across plans (health, ejections); a plan of its own without it. */
  readonly states?: UpstreamStates;
  /** Stores and delivers the requests of routes with `async`; without it such a route is proxied as usual. */
  readonly tasks?: Pick<TaskService, 'acceptor'>;
}

interface CompiledRoute {
  readonly name: string;
  readonly prefix: string;
  readonly strip: boolean;
  readonly maxBodySize: number;
  readonly run: Terminal;
  readonly upgradeChain: Terminal;
  /** The route's upstream set when it has resilience options. */
  readonly set: UpstreamSet | undefined;
}

export interface Plan {
  readonly config: Config;
  /** sha256 of the canonical config, first 12 hex digits; shown in /config and metrics. */
  readonly hash: string;
  readonly trusted: BlockList | undefined;
  /** Runs the matched route's chain and forwards; answers 404/405 itself. Context must already be set. */
  readonly dispatch: (req: IncomingMessage, res: ServerResponse, path: string) => boolean;
  /** Answers what `dispatch` did not take: the global chain, then 405 (with Allow) or 404. */
  readonly fallback: (req: IncomingMessage, res: ServerResponse, path: string) => void;
  readonly upgrade: (req: IncomingMessage, res: ServerResponse, socket: Socket, head: Buffer, path: string) => void;
  /** Starts the plan's background work (upstream health checks); called once the plan is the one in force. */
  readonly start: () => void;
  /** Stops it: on a swap to another plan and at shutdown. */
  readonly stop: () => void;
  /** Upstream health of the routes with resilience options (readiness, metrics). */
  readonly upstreamHealth: () => RouteHealth[];
  /** Every upstream URL the plan lists (`href`). */
  readonly upstreamHrefs: ReadonlySet<string>;
}

const UPSTREAM_KIND: Record<string, UpstreamErrorKind> = {
  PORTICO_UPSTREAM_UNREACHABLE: 'refused',
  PORTICO_UPSTREAM_TIMEOUT: 'timeout',
  PORTICO_UPSTREAM_BUSY: 'timeout',
};

export function configHash(config: Config): string {
  return createHash('sha256')
    .update(JSON.stringify(config, (_key, value: unknown) => (value instanceof URL ? value.href : value)))
    .digest('hex')
    .slice(0, 12);
}

/** What the plan tells each kind about the chain it builds for (KindScope without the entry). */
type ChainScope = Omit<KindScope, 'entry'>;

function buildHandlers(entries: readonly MiddlewareEntryConfig[], deps: PlanDeps, scope: ChainScope): Handler[] {
  return entries.map((entry) => {
    const resolved = resolveEntry(entry, deps.registry, deps.config);
    if (!resolved.ok) {
      // The loader validated every entry already; reaching this means a plan was built from an unchecked config.
      throw new PorticoError(
        'PORTICO_CONFIG_INVALID',
        `middleware ${entryKindName(entry)} on ${scope.route}: ${resolved.issues[0]?.message ?? 'invalid'}`,
      );
    }
    const raw = typeof entry === 'string' ? undefined : entry[entryKindName(entry)];
    return resolved.value.kind.create(resolved.value.options, deps, { ...scope, entry: raw });
  });
}

function chainEntries(
  own: readonly MiddlewareEntryConfig[],
  exclude: readonly string[],
  deps: PlanDeps,
): { globals: MiddlewareEntryConfig[]; own: readonly MiddlewareEntryConfig[] } {
  const excluded = new Set(exclude);
  return { globals: deps.config.middleware.filter((entry) => !excluded.has(entryKindName(entry))), own };
}

function chainFor(
  scope: ChainScope,
  own: readonly MiddlewareEntryConfig[],
  exclude: readonly string[],
  deps: PlanDeps,
): Handler[] {
  const entries = chainEntries(own, exclude, deps);
  return [...buildHandlers(entries.globals, deps, scope), ...buildHandlers(entries.own, deps, scope)];
}

/** True when the route's chain runs an `express` entry: only those routes pay for Express objects and the body copy. */
function runsExpress(own: readonly MiddlewareEntryConfig[], exclude: readonly string[], deps: PlanDeps): boolean {
  const { globals } = chainEntries(own, exclude, deps);
  return [...globals, ...own].some((entry) => entryKindName(entry) === EXPRESS_KIND);
}

function withBodyCapture(chain: Terminal, max: number): Terminal {
  return (req, res) => {
    captureBody(req, max);
    chain(req, res);
  };
}

function tooLarge(req: IncomingMessage, res: ServerResponse, max: number, route: string): void {
  res.setHeader('connection', 'close');
  sendProblem(
    res,
    'PORTICO_PAYLOAD_TOO_LARGE',
    { requestId: req.portico?.id, route },
    { detail: `limit is ${max} bytes` },
  );
}

function bodyLimit(req: IncomingMessage, res: ServerResponse, max: number, route: string): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) > max) {
    tooLarge(req, res, max, route);
    return false;
  }
  if (req.headers['transfer-encoding'] !== undefined) {
    let seen = 0;
    // A bare 'data' listener would start the flow before the forwarder pipes the body (it pipes once the upstream
    // socket is assigned) and those chunks would be lost: pause first; the pipe resumes the flow.
    req.pause();
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > max) {
        req.unpipe();
        tooLarge(req, res, max, route);
        req.destroy();
      }
    });
  }
  return true;
}

function compileRoute(
  route: RouteConfig,
  deps: PlanDeps,
  onError: (err: unknown, req: IncomingMessage, res: ServerResponse) => void,
  states: UpstreamStates,
): CompiledRoute {
  const upstreams = route.upstream;
  const set = buildUpstreamSet(route, { proxies: deps.proxies, states, metrics: deps.metrics, logger: deps.logger });
  // A plain route (no resilience keys) keeps the forwarder it always had: nothing added per request.
  const forwarder =
    set === undefined
      ? createForwarder({ route: route.name, upstreams, timeoutMs: route.timeout, proxies: deps.proxies })
      : createResilientForwarder({ route: route.name, timeoutMs: route.timeout, set });
  const prefix = route.match.pathPrefix.endsWith('/') ? route.match.pathPrefix.slice(0, -1) : route.match.pathPrefix;
  const scope: ChainScope = { route: route.name, template: route.match.pathPrefix, upstreams };
  const handlers = chainFor(scope, route.middleware, route.excludeMiddleware, deps);
  const strip = route.stripPrefix;
  const max = route.maxBodySize;
  const bodyDeadlines: BodyDeadlines = {
    route: route.name,
    idleMs: deps.config.server.bodyIdleTimeout,
    minRate: deps.config.server.bodyMinRate,
  };
  const mirror =
    route.mirror && deps.pool
      ? createMirror(route.mirror, {
          route: route.name,
          pool: deps.pool,
          agentFor: (url) => deps.agents.agentFor(url),
          logger: deps.logger,
          metrics: deps.metrics,
        })
      : undefined;
  const asyncRoute = route.async === undefined ? undefined : deps.tasks?.acceptor({ ...route, async: route.async });
  if (asyncRoute !== undefined) {
    // An async route stores the request and answers 202; nothing is forwarded, mirrored or limited here (the
    // accept bounds the body by `async.maxBodySize`). Routes without `async` never reach this branch.
    const accept: Terminal = (req, res) => {
      watchBody(req, res, bodyDeadlines);
      if (strip) req.url = stripPrefix(req.url as string, prefix);
      const body = bodyToForward(req);
      if (body === 'overflow') tooLarge(req, res, max, route.name);
      else asyncRoute(req, res, body ?? req);
    };
    const asyncRun = runsExpress(route.middleware, route.excludeMiddleware, deps)
      ? withBodyCapture(compose(handlers, accept, onError), route.async?.maxBodySize ?? max)
      : compose(handlers, accept, onError);
    const noUpgrade: Terminal = (req, res) =>
      sendProblem(
        res,
        'PORTICO_BAD_REQUEST',
        { requestId: req.portico?.id, route: route.name },
        {
          detail: 'an async route does not take protocol upgrades',
        },
      );
    return { name: route.name, prefix, strip, maxBodySize: max, run: asyncRun, upgradeChain: noUpgrade, set };
  }
  // A server-side IncomingMessage always has `url` and `method` (Node types them optional for client responses).
  const terminal: Terminal = (req, res) => {
    if (max > 0 && !bodyLimit(req, res, max, route.name)) return;
    watchBody(req, res, bodyDeadlines);
    if (strip) req.url = stripPrefix(req.url as string, prefix);
    mirror?.(req);
    forwarder.forward(req, res);
  };
  // Express routes: a middleware may have read the body (a body parser); the bytes it read are forwarded.
  const expressTerminal: Terminal = (req, res) => {
    const body = bodyToForward(req);
    if (body === 'overflow') {
      tooLarge(req, res, max, route.name);
      return;
    }
    if (body === undefined) {
      terminal(req, res);
      return;
    }
    if (strip) req.url = stripPrefix(req.url as string, prefix);
    mirror?.(req);
    forwarder.forwardBody(req, res, body);
  };
  const upgradeTerminal: Terminal = (req, res) => {
    if (strip) req.url = stripPrefix(req.url as string, prefix);
    const ctx = req.portico;
    if (ctx?.upgradeSocket !== undefined && ctx.upgradeHead !== undefined) {
      forwarder.upgrade(req, res, ctx.upgradeSocket, ctx.upgradeHead);
    }
  };
  // Routes without an express entry run the chain exactly as composed; the others keep the body's chunks first.
  const run: Terminal = runsExpress(route.middleware, route.excludeMiddleware, deps)
    ? withBodyCapture(compose(handlers, expressTerminal, onError), max)
    : compose(handlers, terminal, onError);
  return {
    name: route.name,
    prefix,
    strip,
    maxBodySize: max,
    run,
    upgradeChain: compose(handlers, upgradeTerminal, onError),
    set,
  };
}

/** Builds a plan. Throws PorticoError (PORTICO_CONFIG_INVALID) when a kind's factory rejects its options. */
export function buildPlan(config: Config, deps: PlanDeps): Plan {
  const onError = (err: unknown, req: IncomingMessage, res: ServerResponse): void => {
    const ctx = req.portico;
    ctx?.log.error({ err, route: ctx.route }, 'middleware failed');
    sendError(res, err, { requestId: ctx?.id, route: ctx?.route });
  };
  const states = deps.states ?? createUpstreamStates();
  const routes = config.routes.map((route) => ({
    rule: {
      host: route.match.host,
      pathPrefix: route.match.pathPrefix,
      caseInsensitive: route.match.caseInsensitive,
      methods: route.match.methods,
    },
    value: compileRoute(route, deps, onError, states),
  }));
  const sets = routes.flatMap((route) => (route.value.set === undefined ? [] : [route.value.set]));
  const rules: ReadonlyArray<CompiledRule<CompiledRoute>> = compileRules(routes);
  const builtins = deps.builtins.map((builtin) => ({
    builtin,
    run: compose(
      chainFor({ route: builtin.name, template: builtin.template }, builtin.middleware, [], deps),
      (req, res) => {
        void Promise.resolve(
          builtin.handler(req, res, (err?: unknown) => onError(err ?? new Error('builtin fell through'), req, res)),
        ).catch((err: unknown) => onError(err, req, res));
      },
      onError,
    ),
  }));
  const notFound = compose(
    buildHandlers(config.middleware, deps, { route: '-' }),
    (req, res) => {
      sendProblem(res, 'PORTICO_ROUTE_NOT_FOUND', { requestId: req.portico?.id });
    },
    onError,
  );
  const methodNotAllowed =
    (allow: readonly string[]): Terminal =>
    (req, res) => {
      sendProblem(
        res,
        'PORTICO_METHOD_NOT_ALLOWED',
        { requestId: req.portico?.id },
        { headers: { allow: allow.join(', ') } },
      );
    };

  /** Takes the request when a built-in or a route matches it (method included); false leaves it to `fallback`. */
  const dispatch = (req: IncomingMessage, res: ServerResponse, path: string): boolean => {
    const method = req.method as string;
    for (const { builtin, run } of builtins) {
      if (builtin.matches(method, path)) {
        if (req.portico) req.portico.route = builtin.name;
        run(req, res);
        return true;
      }
    }
    const found = matchRoute(rules, method, req.headers.host, path);
    if (found.kind !== 'match') return false;
    if (req.portico) req.portico.route = found.value.name;
    found.value.run(req, res);
    return true;
  };

  const fallback = (req: IncomingMessage, res: ServerResponse, path: string): void => {
    const found = matchRoute(rules, req.method as string, req.headers.host, path);
    if (found.kind === 'method') methodNotAllowed(found.allow)(req, res);
    else notFound(req, res);
  };

  const upgrade = (req: IncomingMessage, res: ServerResponse, socket: Socket, head: Buffer, path: string): void => {
    const found = matchRoute(rules, req.method as string, req.headers.host, path);
    if (found.kind !== 'match') {
      socket.destroy(); // an upgrade that matches no route is refused outright
      return;
    }
    const ctx = req.portico;
    if (ctx !== undefined) {
      ctx.route = found.value.name;
      ctx.upgradeSocket = socket;
      ctx.upgradeHead = head;
    }
    found.value.upgradeChain(req, res);
  };

  return {
    config,
    hash: configHash(config),
    // No list at all when nothing is trusted: the edge then skips the per-request address checks.
    trusted: config.server.trustedProxies.length > 0 ? toBlockList(config.server.trustedProxies) : undefined,
    dispatch,
    fallback,
    upgrade,
    start: () => {
      const claimed = new Set<UpstreamState>();
      for (const set of sets) set.start(claimed);
    },
    stop: () => sets.forEach((set) => set.stop()),
    upstreamHealth: () => sets.map((set) => set.health()),
    upstreamHrefs: new Set(config.routes.flatMap((route) => route.upstream.map((url) => url.href))),
  };
}

/** Maps an upstream error code to the metrics label. */
export function upstreamErrorKind(err: PorticoError): UpstreamErrorKind {
  return UPSTREAM_KIND[classifyUpstreamError(err)] ?? 'reset';
}
