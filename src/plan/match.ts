/**
 * Route matching, compiled once per plan. Specificity: a route with a host beats one without; a longer path
 * prefix beats a shorter one; a route that names methods beats one that takes any; then declaration order.
 * Prefixes are segment-aware (`/api` matches `/api` and `/api/x`, not `/apix`) and compare the raw path text, in
 * letter case too unless the rule says `caseInsensitive` (ASCII folding). Hosts are normalised on both sides
 * (lower case, one trailing dot dropped: `API.internal.` is `api.internal`, RFC 1034 section 3.1); a configured host
 * without a port matches any port, one with a port only that port. The Host header is read only when a rule with a
 * host is reached, without allocating when it needs no folding.
 */
export interface MatchRule {
  readonly host?: string | undefined;
  readonly pathPrefix: string;
  readonly caseInsensitive?: boolean | undefined;
  readonly methods?: readonly string[] | undefined;
}

export interface CompiledRule<T> {
  readonly value: T;
  readonly hostName?: string | undefined;
  readonly hostPort?: string | undefined;
  /** Prefix without a trailing slash (`/` becomes ``), so `prefix + '/'` and `prefix` are the two exact forms. */
  readonly prefix: string;
  /** The prefix is lower-cased and compared with ASCII case folding. */
  readonly foldCase: boolean;
  readonly methods?: ReadonlySet<string> | undefined;
}

export type MatchResult<T> =
  | { readonly kind: 'match'; readonly value: T }
  | { readonly kind: 'method'; readonly allow: readonly string[] }
  | { readonly kind: 'none' };

/** Index of the `:` before a port, or -1 (`[v6]` literals hold colons of their own). */
function portColon(host: string): number {
  const colon = host.lastIndexOf(':');
  if (colon === -1) return -1;
  if (host.charCodeAt(0) === 91 /* [ */) return host.indexOf(']') < colon ? colon : -1;
  return host.indexOf(':') === colon ? colon : -1;
}

/** Lower case, no trailing dot. Returns `name` itself when it is already in that form (the usual case). */
function normalHostName(name: string): string {
  const dotted = name.charCodeAt(name.length - 1) === 46; /* . */
  const bare = dotted ? name.slice(0, -1) : name;
  return /[A-Z]/.test(bare) ? bare.toLowerCase() : bare;
}

function splitHost(host: string): { name: string; port?: string } {
  const colon = portColon(host);
  if (colon === -1) return { name: normalHostName(host) };
  return { name: normalHostName(host.slice(0, colon)), port: host.slice(colon + 1) };
}

export function compileRules<T>(rules: ReadonlyArray<{ rule: MatchRule; value: T }>): ReadonlyArray<CompiledRule<T>> {
  const compiled = rules.map(({ rule, value }, index) => {
    const host = rule.host === undefined ? undefined : splitHost(rule.host);
    const trimmed = rule.pathPrefix.endsWith('/') ? rule.pathPrefix.slice(0, -1) : rule.pathPrefix;
    const foldCase = rule.caseInsensitive === true;
    return {
      index,
      entry: {
        value,
        hostName: host?.name,
        hostPort: host?.port,
        prefix: foldCase ? trimmed.toLowerCase() : trimmed,
        foldCase,
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

/** `path` starts with the lower-case `prefix`, comparing ASCII letters case-insensitively. */
function startsWithFolded(path: string, prefix: string): boolean {
  if (path.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) {
    const c = path.charCodeAt(i);
    if (c !== prefix.charCodeAt(i) && (c < 65 || c > 90 || c + 32 !== prefix.charCodeAt(i))) return false;
  }
  return true;
}

export function pathMatches(prefix: string, path: string, foldCase = false): boolean {
  if (prefix === '') return true;
  if (!(foldCase ? startsWithFolded(path, prefix) : path.startsWith(prefix))) return false;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === 47; /* / */
}

function hostMatches<T>(rule: CompiledRule<T>, host: { name: string; port?: string } | undefined): boolean {
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
  let host: { name: string; port?: string } | undefined;
  let allow: Set<string> | undefined;
  for (const rule of rules) {
    if (rule.hostName !== undefined) {
      if (host === undefined && hostHeader !== undefined) host = splitHost(hostHeader);
      if (!hostMatches(rule, host)) continue;
    }
    if (!pathMatches(rule.prefix, path, rule.foldCase)) continue;
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
