/**
 * The composition root: builds stores, agents, the plan and the listeners from a validated config, and owns
 * reload and ordered shutdown. Tests call `startPortico` with their own config, stores and logger.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import pino, { type Logger } from 'pino';
import type { Config } from './config/schema.js';
import { createAdminServer, type ReadinessCheck } from './admin/server.js';
import { noopMetrics, type Metrics, type TelemetryDropsSource } from './telemetry/metrics.js';
import { createPrometheusMetrics } from './admin/prometheus.js';
import { loadConfigFile } from './config/load.js';
import { watchConfigFile } from './config/watch.js';
import { buildPlan, upstreamErrorKind, type Plan } from './plan/build.js';
import type { BuiltinRoute } from './middleware/kind.js';
import type { KindRegistry } from './middleware/entries.js';
import { defaultRegistry } from './middleware/registry.js';
import { createAgentPool } from './proxy/agents.js';
import { createProxyServer } from './server.js';
import { createUpstreamProxies } from './proxy/forward.js';
import type { Stores } from './stores/stores.js';
import { startServices } from './services.js';
import { PorticoError } from './errors.js';
import { storeErrorFallbacks } from './middleware/rate-limit/index.js';
import { requestMetering, webSocketReport } from './telemetry/request-metering.js';
import { createUpstreamStates } from './upstream/state.js';
import { upstreamReadiness } from './upstream/readiness.js';

export interface PorticoOptions {
  readonly config: Config;
  /** The file `config` came from: enables `reloadFromFile()`, and with `watch` a debounced reload on change. */
  readonly configFile?: string;
  readonly watch?: boolean;
  readonly logger?: Logger;
  /** Injected stores; by default built from `config.redis` (in-process when no url). Not closed by shutdown if injected. */
  readonly stores?: Stores;
  readonly metrics?: Metrics;
  readonly registry?: KindRegistry;
  /** Built-in routes answered by Portico itself; by default the user lookup when enabled. */
  readonly builtins?: readonly BuiltinRoute[];
  /** What the process's logger and tracer dropped, for /metrics (the CLI owns both; tests may pass their own). */
  readonly telemetryDrops?: TelemetryDropsSource;
}

export interface Portico {
  readonly proxyUrl: string;
  readonly adminUrl: string;
  plan(): Plan;
  /** Builds a plan from `config` and swaps it in for new requests. Throws (old plan keeps serving) on failure. */
  reload(config: Config): Promise<void>;
  /** Reloads `configFile`. An invalid file is logged and counted; the running plan keeps serving. */
  reloadFromFile(): Promise<boolean>;
  shutdown(): Promise<void>;
}

async function listen(server: http.Server, host: string, port: number): Promise<string> {
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost}:${address.port}`;
}

export async function startPortico(options: PorticoOptions): Promise<Portico> {
  const logger = options.logger ?? pino({ level: options.config.telemetry.logs.level });
  const metrics =
    options.metrics ?? createPrometheusMetrics({ exemplars: options.config.telemetry.traces.exporter !== 'none' });
  if (options.telemetryDrops !== undefined) metrics.watchTelemetry(options.telemetryDrops);
  const registry = options.registry ?? defaultRegistry;
  const services = await startServices({
    config: options.config,
    logger,
    metrics,
    stores: options.stores,
    builtins: options.builtins,
  });
  const { stores } = services;
  const agents = createAgentPool({
    maxSockets: options.config.server.upstreamMaxSockets,
    idleTimeout: options.config.server.upstreamIdleTimeout,
  });
  // `proxy` is created below, once the plan exists; the hooks read it only per request, when it does.
  const hooks = {
    draining: () => proxy.draining(),
    onWebSocket: webSocketReport(metrics, logger),
    onUpstreamError: (err: PorticoError, req: http.IncomingMessage) => {
      const ctx = req.portico;
      metrics.upstreamError(ctx?.route ?? '-', upstreamErrorKind(err));
      (ctx?.log ?? logger).warn(
        { err, route: ctx?.route, requestId: ctx?.id, upstream: ctx?.upstream, attempts: ctx?.attempt?.tries },
        'upstream failed',
      );
    },
  };
  const proxies = createUpstreamProxies(hooks, (url) => agents.agentFor(url));
  // Health and ejections per upstream URL, kept across reloads for the upstreams that stay.
  const states = createUpstreamStates();
  const makePlan = (config: Config): Plan =>
    buildPlan(config, {
      config,
      logger,
      stores,
      metrics,
      registry,
      builtins: services.builtins(config),
      proxies,
      agents,
      pool: services.pool,
      states,
      tasks: services.tasks,
    });

  let plan = makePlan(options.config);
  const meters = metrics === noopMetrics ? undefined : requestMetering(metrics);
  plan.start();
  metrics.upstreams.watch(() =>
    plan.upstreamHealth().flatMap((route) =>
      route.upstreams.map((one) => ({
        route: route.route,
        upstream: one.upstream,
        healthy: one.healthy && !one.ejected,
      })),
    ),
  );
  const proxy = createProxyServer({
    currentPlan: () => plan,
    logger,
    server: options.config.server,
    onResponse: meters?.closed,
    onRouted: meters?.routed,
    onRefused: meters?.refused,
  });
  metrics.configReload(true, plan.hash);
  const readiness = (): ReadinessCheck[] => [
    {
      name: 'stores',
      check: () => {
        const health = stores.health();
        // A degraded store still serves through its configured fallback; readiness reports it without failing.
        if (health.healthy) return { ok: true, detail: `${health.kind}: healthy` };
        const fallbacks = storeErrorFallbacks(plan.config.rateLimits);
        return {
          ok: true,
          detail: `${health.kind}: degraded${health.detail ? ` (${health.detail})` : ''}${fallbacks ? `; rate limits fall back to ${fallbacks}` : ''}`,
        };
      },
    },
    ...upstreamReadiness(plan.upstreamHealth()),
  ];
  const admin = createAdminServer({
    config: () => plan.config,
    configHash: () => plan.hash,
    draining: () => proxy.draining(),
    metrics,
    readiness,
    logger,
    tasks: services.tasks,
    ...(options.builtins === undefined && options.config.userLookup.enabled
      ? {
          invalidateUser: async (id: string) => {
            if (services.users === undefined)
              throw new PorticoError('PORTICO_DATABASE_UNAVAILABLE', 'user lookup is not set up yet');
            await services.users.invalidate(id);
          },
        }
      : {}),
  });
  const proxyUrl = await listen(proxy.server, options.config.server.listen.host, options.config.server.listen.port);
  const adminUrl = await listen(admin, options.config.server.admin.host, options.config.server.admin.port);
  logger.info(
    { proxy: proxyUrl, admin: adminUrl, config: plan.hash, routes: plan.config.routes.length },
    'portico listening',
  );

  let stopping: Promise<void> | undefined;
  const reload = async (config: Config): Promise<void> => {
    const next = makePlan(config);
    const before = plan.config.server;
    if (JSON.stringify([before.listen, before.admin]) !== JSON.stringify([config.server.listen, config.server.admin])) {
      logger.warn('server.listen and server.admin take effect at restart only');
    }
    const previous = plan;
    plan = next; // requests already running keep the plan object they started with
    previous.stop();
    next.start();
    states.retain(next.upstreamHrefs);
    metrics.configReload(true, next.hash);
    logger.info({ config: next.hash, routes: config.routes.length }, 'config reloaded');
  };
  /** Never rejects: every failure is caught, counted and logged (callers discard the promise). */
  const reloadFromFile = async (): Promise<boolean> => {
    if (options.configFile === undefined) return false;
    try {
      await reload(await loadConfigFile(options.configFile, { registry }));
      return true;
    } catch (err) {
      metrics.configReload(false);
      logger.error(
        { err: err instanceof Error ? err.message : String(err), file: options.configFile },
        'config reload rejected; the running config keeps serving',
      );
      return false;
    }
  };
  const watcher =
    options.configFile !== undefined && options.watch === true
      ? watchConfigFile(options.configFile, () => void reloadFromFile()) // cannot reject, see reloadFromFile
      : undefined;
  return {
    proxyUrl,
    adminUrl,
    plan: () => plan,
    reload,
    reloadFromFile,
    shutdown() {
      stopping ??= (async () => {
        watcher?.close();
        plan.stop();
        const { forced } = await proxy.drain(plan.config.server.drainTimeout);
        if (forced)
          logger.warn({ drainTimeout: plan.config.server.drainTimeout }, 'drain timeout: remaining connections closed');
        admin.close();
        admin.closeAllConnections();
        await services.close(plan.config.server.drainTimeout);
        agents.destroy();
        logger.info('portico stopped');
      })();
      return stopping;
    },
  };
}
