/**
 * Turns YAML middleware entries (`logging`, `rateLimit: per-client`, `headers: {...}`) into (kind, options) pairs,
 * validated against the kind's own schema. Used by the config loader (to report errors with their path) and by
 * the plan builder (to create handlers), so both read entries the same way.
 */
import type { Config, MiddlewareEntryConfig } from '../config/schema.js';
import type { MiddlewareKind } from './kind.js';

export type KindRegistry = ReadonlyMap<string, MiddlewareKind>;

export interface ResolvedEntry {
  readonly kind: MiddlewareKind;
  readonly options: unknown;
}

export interface EntryIssue {
  /** Path below the entry (e.g. `['rateLimit']` or `['headers', 'request', 'set']`). */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

export function entryKindName(entry: MiddlewareEntryConfig): string {
  return typeof entry === 'string' ? entry : (Object.keys(entry)[0] as string);
}

export function resolveEntry(
  entry: MiddlewareEntryConfig,
  registry: KindRegistry,
  config: Config,
): { ok: true; value: ResolvedEntry } | { ok: false; issues: EntryIssue[] } {
  const name = entryKindName(entry);
  const kind = registry.get(name);
  if (kind === undefined) {
    return {
      ok: false,
      issues: [
        {
          path: typeof entry === 'string' ? [] : [name],
          message: `unknown middleware kind "${name}"${suggestKind(name, registry)}`,
        },
      ],
    };
  }
  const raw = typeof entry === 'string' ? undefined : entry[name];
  const parsed = kind.options.safeParse(raw);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((issue) => ({
        path:
          typeof entry === 'string' ? [] : [name, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))],
        message: raw === undefined ? `middleware "${name}" needs options: ${issue.message}` : issue.message,
      })),
    };
  }
  const problem = kind.check?.(parsed.data, config);
  if (problem !== undefined)
    return { ok: false, issues: [{ path: typeof entry === 'string' ? [] : [name], message: problem }] };
  return { ok: true, value: { kind, options: parsed.data } };
}

function suggestKind(name: string, registry: KindRegistry): string {
  const lower = name.toLowerCase();
  for (const known of registry.keys()) {
    if (known.toLowerCase() === lower || known.toLowerCase().startsWith(lower.slice(0, 4)))
      return ` (did you mean "${known}"?)`;
  }
  return ` (known kinds: ${[...registry.keys()].join(', ')})`;
}

/** One entry of every chain in the config, with its key path (for messages). */
export function everyEntry(config: Config): { entry: MiddlewareEntryConfig; path: (string | number)[] }[] {
  const out: { entry: MiddlewareEntryConfig; path: (string | number)[] }[] = [];
  config.middleware.forEach((entry, i) => out.push({ entry, path: ['middleware', i] }));
  config.routes.forEach((route, r) =>
    route.middleware.forEach((entry, i) => out.push({ entry, path: ['routes', r, 'middleware', i] })),
  );
  config.userLookup.middleware.forEach((entry, i) => out.push({ entry, path: ['userLookup', 'middleware', i] }));
  return out;
}

/**
 * Runs each kind's asynchronous `load` (module imports) for every entry of a validated config. Entries load one
 * after another: a config has a handful, and a failing import must not race the others' side effects.
 */
export async function loadEntries(config: Config, registry: KindRegistry, baseDir: string): Promise<EntryIssue[]> {
  const issues: EntryIssue[] = [];
  for (const { entry, path } of everyEntry(config)) {
    const name = entryKindName(entry);
    const kind = registry.get(name);
    if (kind?.load === undefined) continue;
    const resolved = resolveEntry(entry, registry, config);
    if (!resolved.ok) continue; // reported by the cross-check already
    const raw = typeof entry === 'string' ? undefined : entry[name];
    const issue = await kind.load(resolved.value.options, { config, baseDir, entry: raw });
    if (issue !== undefined) issues.push({ path: [...path, name, ...issue.path], message: issue.message });
  }
  return issues;
}
