/**
 * `express`: runs an Express middleware (an npm package or a local file) in Portico's chain, with Express's request
 * and response, on the routes whose chain has it. `load` imports and checks the module at config load (serve,
 * reload, `portico check`); `create` only looks it up, so plan build stays synchronous.
 *
 *   - express: { use: cors, options: { origin: "https://app.example.com" } }
 *   - express: { use: ./plugins/audit.js, export: audit, options: { header: x-user } }
 */
import type { Express } from 'express';
import { toBlockList, type Config } from '../../config/schema.js';
import { PorticoError } from '../../errors.js';
import { defineKind } from '../kind.js';
import { adopt, createExpressApp } from './adapter.js';
import { callMiddleware, type CallSite } from './call.js';
import { loadMiddleware, type LoadedMiddleware } from './loader.js';
import { expressOptionsSchema } from './types.js';

export const EXPRESS_KIND = 'express';

/** Bound on a middleware outside a route (global chain on unmatched requests, userLookup): a route's default. */
const DEFAULT_TIMEOUT_MS = 15_000;

/** Loaded middleware by the entry's raw value in the frozen config: one instance per entry per config load. */
const loaded = new WeakMap<object, LoadedMiddleware>();
const apps = new WeakMap<Config, Express>();

function appFor(config: Config): Express {
  let app = apps.get(config);
  if (app === undefined) {
    const trusted = config.server.trustedProxies;
    app = createExpressApp(trusted.length > 0 ? toBlockList(trusted) : undefined);
    apps.set(config, app);
  }
  return app;
}

export const expressKind = defineKind({
  name: EXPRESS_KIND,
  options: expressOptionsSchema,
  async load(options, context) {
    const result = loadMiddleware(options, context.baseDir);
    if (!result.ok) return result.issue;
    if (typeof context.entry === 'object' && context.entry !== null) loaded.set(context.entry, result.value);
    return undefined;
  },
  create(options, deps, scope) {
    const entry = scope.entry;
    const found = typeof entry === 'object' && entry !== null ? loaded.get(entry) : undefined;
    if (found === undefined)
      throw new PorticoError(
        'PORTICO_CONFIG_INVALID',
        `express middleware "${options.use}" on ${scope.route} was not loaded: modules load with the config file (loadConfigFile), not from config text`,
      );
    const app = appFor(deps.config);
    const timeoutMs = deps.config.routes.find((route) => route.name === scope.route)?.timeout ?? DEFAULT_TIMEOUT_MS;
    const site: CallSite = { loaded: found, route: scope.route, timeoutMs };
    return (req, res, next) => {
      adopt(req, res, app);
      callMiddleware(req, res, next, site);
    };
  },
});
