/**
 * Route matching, compiled once per plan. Specificity: a route with a host beats one without; a longer path
 * prefix beats a shorter one; a route that names methods beats one that takes any; then declaration order.
 * Prefixes are segment-aware (`/api` matches `/api` and `/api/x`, not `/apix`). Hosts compare case-insensitively;
 * a configured host without a port matches any port, one with a port only that port.
 */
export interface MatchRule {
  readonly host?: string | undefined;
  readonly pathPrefix: string;
  readonly methods?: readonly string[] | undefined;
}

export interface CompiledRule<T> {
  readonly value: T;
  readonly hostName?: string | undefined;
  readonly hostPort?: string | undefined;
  /** Prefix without a trailing slash (`/` becomes ``), so `prefix + '/'` and `prefix` are the two exact forms. */
  readonly prefix: string;
  readonly methods?: ReadonlySet<string> | undefined;
}

export type MatchResult<T> =
  | { readonly kind: 'match'; readonly value: T }
  | { readonly kind: 'method'; readonly allow: readonly string[] }
  | { readonly kind: 'none' };

function splitHost(host: string): { name: string; port?: string } {
  const lower = host.toLowerCase();
  const bracket = lower.startsWith('[') ? lower.indexOf(']') : -1;
  const colon = lower.lastIndexOf(':');
  if (colon > bracket && (bracket !== -1 || lower.indexOf(':') === colon)) {
    return { name: lower.slice(0, colon), port: lower.slice(colon + 1) };
  }
  return { name: lower };
}

export function compileRules<T>(rules: ReadonlyArray<{ rule: MatchRule; value: T }>): ReadonlyArray<CompiledRule<T>> {
  const compiled = rules.map(({ rule, value }, index) => {
    const host = rule.host === undefined ? undefined : splitHost(rule.host);
    const prefix = rule.pathPrefix.endsWith('/') ? rule.pathPrefix.slice(0, -1) : rule.pathPrefix;
    return {
      index,
      entry: {
        value,
        hostName: host?.name,
        hostPort: host?.port,
        prefix,
        methods: rule.methods === undefined ? undefined : new Set(rule.methods),
      } satisfies CompiledRule<T>,
    };
  });
  compiled.sort((a, b) => {
    const hostDiff = Number(b.entry.hostName !== undefined) - Number(a.entry.hostName !== undefined);
    if (hostDiff !== 0) return hostDiff;
    const prefixDiff = b.entry.prefix.length - a.entry.prefix.length;
    if (prefixDiff !== 0) return prefixDiff;
    const methodDiff = Number(b.entry.methods !== undefined) - Number(a.entry.methods !== undefined);
    return methodDiff !== 0 ? methodDiff : a.index - b.index;
  });
  return compiled.map((c) => c.entry);
}

export function pathMatches(prefix: string, path: string): boolean {
  if (prefix === '') return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === 47; /* / */
}

function hostMatches<T>(rule: CompiledRule<T>, host: { name: string; port?: string } | undefined): boolean {
  if (rule.hostName === undefined) return true;
  if (host === undefined || host.name !== rule.hostName) return false;
  return rule.hostPort === undefined || rule.hostPort === host.port;
}

/** Finds the most specific rule; tells a method mismatch (405 with Allow) apart from no match (404). */
export function matchRoute<T>(
  rules: ReadonlyArray<CompiledRule<T>>,
  method: string,
  hostHeader: string | undefined,
  path: string,
): MatchResult<T> {
  const host = hostHeader === undefined ? undefined : splitHost(hostHeader);
  let allow: Set<string> | undefined;
  for (const rule of rules) {
    if (!hostMatches(rule, host) || !pathMatches(rule.prefix, path)) continue;
    if (rule.methods === undefined || rule.methods.has(method)) return { kind: 'match', value: rule.value };
    allow ??= new Set();
    for (const m of rule.methods) allow.add(m);
  }
  return allow === undefined ? { kind: 'none' } : { kind: 'method', allow: [...allow] };
}

/** Removes the route prefix from a request url, keeping the query (`/api/x?q` with `/api` → `/x?q`). */
export function stripPrefix(url: string, prefix: string): string {
  if (prefix === '') return url;
  const rest = url.slice(prefix.length);
  return rest === '' || rest.startsWith('?') ? `/${rest}` : rest;
}
