/**
 * Checks that need the whole config: unique route names, known middleware kinds with valid options, references
 * to named policies, and the admin token rule. Pure: config in, issues with their key paths out.
 */
import type { Config } from './schema.js';
import { isLoopbackHost } from './address.js';
import { resolveEntry, type KindRegistry } from '../middleware/entries.js';
import type { MiddlewareEntryConfig } from './schema.js';

export interface PathIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

function entryIssues(
  entries: readonly MiddlewareEntryConfig[],
  base: readonly (string | number)[],
  config: Config,
  registry: KindRegistry,
): PathIssue[] {
  const issues: PathIssue[] = [];
  entries.forEach((entry, index) => {
    const resolved = resolveEntry(entry, registry, config);
    if (!resolved.ok)
      for (const issue of resolved.issues)
        issues.push({ path: [...base, index, ...issue.path], message: issue.message });
  });
  return issues;
}

export function crossCheck(config: Config, registry: KindRegistry): PathIssue[] {
  const issues: PathIssue[] = [];
  const seen = new Map<string, number>();
  config.routes.forEach((route, index) => {
    const first = seen.get(route.name);
    if (first !== undefined)
      issues.push({
        path: ['routes', index, 'name'],
        message: `duplicate route name "${route.name}" (first used by routes[${first}])`,
      });
    else seen.set(route.name, index);
    issues.push(...entryIssues(route.middleware, ['routes', index, 'middleware'], config, registry));
    if (route.critical && route.healthCheck === undefined && route.outlierDetection === undefined)
      issues.push({
        path: ['routes', index, 'critical'],
        message: 'critical needs healthCheck or outlierDetection: without them no upstream is ever seen down',
      });
    route.excludeMiddleware.forEach((kind, k) => {
      if (!registry.has(kind))
        issues.push({ path: ['routes', index, 'excludeMiddleware', k], message: `unknown middleware kind "${kind}"` });
    });
  });
  issues.push(...entryIssues(config.middleware, ['middleware'], config, registry));
  issues.push(...entryIssues(config.userLookup.middleware, ['userLookup', 'middleware'], config, registry));
  if (!isLoopbackHost(config.server.admin.host) && config.server.adminToken === undefined) {
    issues.push({
      path: ['server', 'admin'],
      message: 'admin binds beyond loopback: set server.adminToken (at least 16 characters)',
    });
  }
  return issues;
}
