/**
 * Config loading: read → parse YAML (positions kept) → interpolate `${VAR}` → validate against the schema →
 * cross-check (names, references, middleware options) → freeze. Every problem is reported with file, line,
 * column and key path; all problems are collected, not just the first.
 */
import { open } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Document, isMap, isScalar, LineCounter, parseDocument, visit, type Node } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';
import { ConfigError, formatPath, type ConfigIssue } from './config-error.js';
import { interpolate, retype, type Env } from './interpolate.js';
import { withOtelEnvironment } from '../telemetry/environment.js';
import { allowedKeys, closest } from './suggest.js';
import { crossCheck, type PathIssue } from './cross-check.js';
import { loadEntries, type KindRegistry } from '../middleware/entries.js';
import { salvage } from './salvage.js';

/** Files larger than this are refused before parsing (a config file is kilobytes; this bounds memory). */
export const MAX_CONFIG_BYTES = 1_048_576;
/** Alias expansions allowed while building the value (a "billion laughs" document needs millions). */
const MAX_ALIAS_COUNT = 100;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export interface LoadOptions {
  readonly env?: Env;
  readonly registry: KindRegistry;
}

type Path = readonly (string | number)[];

class Positions {
  constructor(
    private readonly file: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  at(offset: number | undefined, path: Path, message: string): ConfigIssue {
    const pos = offset === undefined ? { line: 1, col: 1 } : this.lines.linePos(offset);
    return { file: this.file, line: pos.line, col: pos.col, path: formatPath(path), message };
  }

  /** The issue at the deepest node of `path` that exists (a missing key points at its parent map). */
  ofPath(path: Path, message: string, key?: string): ConfigIssue {
    for (let depth = path.length; depth >= 0; depth--) {
      const node = this.doc.getIn(path.slice(0, depth), true) as Node | undefined;
      if (node === undefined || node === null || typeof node !== 'object') continue;
      if (key !== undefined && depth === path.length && isMap(node)) {
        const pair = node.items.find((item) => isScalar(item.key) && item.key.value === key);
        const keyNode = pair?.key as Node | undefined;
        if (keyNode?.range) return this.at(keyNode.range[0], [...path, key], message);
      }
      return this.at(node.range?.[0], path, message);
    }
    return this.at(undefined, path, message);
  }
}

function yamlIssues(doc: Document, positions: Positions): ConfigIssue[] {
  return [...doc.errors, ...doc.warnings].map((err) =>
    positions.at(err.pos[0], [], err.message.split('\n')[0] ?? err.message),
  );
}

/** Interpolates string scalars in place; refuses prototype-polluting keys and custom tags. */
function prepareDocument(doc: Document, env: Env, positions: Positions): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  visit(doc, {
    Pair(_key, pair) {
      if (isScalar(pair.key) && FORBIDDEN_KEYS.has(String(pair.key.value))) {
        issues.push(positions.at(pair.key.range?.[0], [], `key "${String(pair.key.value)}" is not allowed`));
      }
    },
    Scalar(_key, node) {
      if (node.tag !== undefined && !node.tag.startsWith('tag:yaml.org,2002:')) {
        issues.push(positions.at(node.range?.[0], [], `custom tag ${node.tag} is not allowed`));
        return;
      }
      if (typeof node.value !== 'string') return;
      const { value, missing } = interpolate(node.value, env);
      for (const name of missing)
        issues.push(positions.at(node.range?.[0], [], `environment variable ${name} is not set and has no default`));
      if (value === node.value) return;
      const whole = /^\$\{[^}]*\}$/.test(node.value.trim());
      node.value = whole && node.type === 'PLAIN' ? retype(value) : value;
    },
  });
  return issues;
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let current = raw;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

/** Unknown keys first: a misspelt key usually also causes the "missing key" issue that follows it. */
function schemaIssues(error: z.ZodError, raw: unknown, positions: Positions): ConfigIssue[] {
  const ordered = [...error.issues].sort(
    (a, b) => Number(b.code === 'unrecognized_keys') - Number(a.code === 'unrecognized_keys'),
  );
  return ordered.map((issue) => {
    const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeys(configSchema, path);
      const key = issue.keys[0] as string;
      const hint = closest(key, allowed);
      const message = `unknown key "${key}"${hint ? ` (did you mean "${hint}"?)` : allowed.length > 0 ? ` (allowed: ${allowed.join(', ')})` : ''}`;
      return positions.ofPath(path, message, key);
    }
    if (
      (issue.code === 'invalid_type' || issue.code === 'invalid_union') &&
      path.length > 0 &&
      valueAt(raw, path) === undefined
    ) {
      return positions.ofPath(path.slice(0, -1), `missing required key "${String(path[path.length - 1])}"`);
    }
    return positions.ofPath(path, issue.message);
  });
}

/**
 * Cross-check issues that add to the schema's: none in an object that already has a schema issue, where a removed
 * value could be the cause (a too-short `adminToken` would also read as a missing one).
 */
function besides(semantic: readonly PathIssue[], error: z.ZodError): PathIssue[] {
  const parent = (path: readonly PropertyKey[]): string => path.slice(0, -1).map(String).join('.');
  const flagged = new Set(
    error.issues.map((issue) =>
      parent(issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0] ?? ''] : issue.path),
    ),
  );
  return semantic.filter((issue) => !flagged.has(parent(issue.path)));
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !(value instanceof URL) && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * Parses and validates config text. `file` is only used in messages. Throws ConfigError. Kinds that load modules
 * (`express`) are not prepared here: `loadConfigFile` does that, since imports are asynchronous.
 */
export function loadConfigText(text: string, file: string, options: LoadOptions): Config {
  return parseConfig(text, file, options).config;
}

function parseConfig(text: string, file: string, options: LoadOptions): { config: Config; positions: Positions } {
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lines,
    uniqueKeys: true,
    prettyErrors: false,
    strict: true,
    stringKeys: true,
  });
  const positions = new Positions(file, doc, lines);
  const syntax = yamlIssues(doc, positions);
  if (syntax.length > 0) throw new ConfigError(syntax);
  const prepared = prepareDocument(doc, options.env ?? process.env, positions);
  if (prepared.length > 0) throw new ConfigError(prepared);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    throw new ConfigError([positions.at(undefined, [], `cannot build the document: ${(err as Error).message}`)], {
      cause: err,
    });
  }
  if (raw === null || raw === undefined) throw new ConfigError([positions.at(undefined, [], 'the file is empty')]);
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError([positions.at(doc.contents?.range?.[0], [], 'the top level must be a map of sections')]);
  const withEnv = withOtelEnvironment(raw, options.env ?? process.env); // the file wins; OTEL_* fill what it leaves out
  const parsed = configSchema.safeParse(withEnv);
  if (!parsed.success) {
    const readable = salvage(raw);
    const semantic = readable === undefined ? [] : besides(crossCheck(readable, options.registry), parsed.error);
    throw new ConfigError([
      ...schemaIssues(parsed.error, raw, positions),
      ...semantic.map((issue) => positions.ofPath(issue.path, issue.message)),
    ]);
  }
  const semantic: PathIssue[] = crossCheck(parsed.data, options.registry);
  if (semantic.length > 0) throw new ConfigError(semantic.map((issue) => positions.ofPath(issue.path, issue.message)));
  return { config: deepFreeze(parsed.data), positions };
}

/**
 * Reads at most MAX_CONFIG_BYTES + 1 bytes: a special file (a pipe, /dev/zero) reports size 0 and would otherwise
 * be read without bound.
 */
async function readBounded(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new ConfigError([{ file, line: 1, col: 1, path: '', message: 'not a regular file' }]);
    if (info.size > MAX_CONFIG_BYTES) {
      throw new ConfigError([
        { file, line: 1, col: 1, path: '', message: `file is ${info.size} bytes; the limit is ${MAX_CONFIG_BYTES}` },
      ]);
    }
    const buffer = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > MAX_CONFIG_BYTES) {
      throw new ConfigError([
        { file, line: 1, col: 1, path: '', message: `file is larger than the limit of ${MAX_CONFIG_BYTES} bytes` },
      ]);
    }
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** Reads, parses and validates a config file. Throws ConfigError naming the file. */
export async function loadConfigFile(file: string, options: LoadOptions): Promise<Config> {
  let text: string;
  try {
    text = await readBounded(file);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(
      [{ file, line: 1, col: 1, path: '', message: `cannot read file: ${(err as Error).message}` }],
      { cause: err },
    );
  }
  const { config, positions } = parseConfig(text, file, options);
  const loaded = await loadEntries(config, options.registry, dirname(resolve(file)));
  if (loaded.length > 0) throw new ConfigError(loaded.map((issue) => positions.ofPath(issue.path, issue.message)));
  return config;
}
