/**
 * Loads the module an `express` entry names, at config load (serve, reload, `portico check`), never per request:
 * resolve → require → pick the export → call the factory → check the middleware's shape. Problems come back as
 * messages with the key they concern, so the loader reports them at file:line:col.
 *
 * Modules load through Node's own `require` (Node 22.12+ requires ES modules too, when they have no top-level
 * await), the same way under the built product and under the test runner. A reload re-reads a changed CommonJS
 * file (its require.cache entry is dropped); an ES module cannot be unloaded or re-evaluated through require, so a
 * reload that finds a changed ES module refuses and the running config keeps serving until a restart.
 */
import { createRequire } from 'node:module';
import { statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { LoadIssue } from '../kind.js';
import type { ExpressMiddleware, ExpressOptions } from './types.js';

/** Portico's own folder: packages installed beside Portico resolve from here. */
const PORTICO_ROOT = join(__dirname, '..', '..', '..');
const nodeRequire = createRequire(__filename);
const LOCAL_EXTENSIONS = ['.js', '.cjs', '.mjs'];

export interface LoadedMiddleware {
  readonly middleware: ExpressMiddleware;
  /** `use` as written: names the module in logs and span names. */
  readonly module: string;
}

interface Stamp {
  readonly version: string;
  readonly esm: boolean;
}

/** Local files as last loaded, by absolute path: a reload compares against this. */
const stamps = new Map<string, Stamp>();

function isLocal(use: string): boolean {
  return use.startsWith('./') || use.startsWith('../') || isAbsolute(use);
}

function versionOf(file: string): string {
  const info = statSync(file);
  return `${info.mtimeMs}:${info.ctimeMs}:${info.size}`;
}

function isModuleNamespace(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.prototype.toString.call(value) === '[object Module]';
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'function') return `a function of ${value.length} arguments`;
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

type Step<T> = { ok: true; value: T } | { ok: false; issue: LoadIssue };

function fail<T>(path: string, message: string): Step<T> {
  return { ok: false, issue: { path: [path], message } };
}

function requireLocal(use: string, baseDir: string): Step<unknown> {
  const file = resolve(baseDir, use);
  if (!LOCAL_EXTENSIONS.some((ext) => file.endsWith(ext)))
    return fail('use', `a local module must be a .js, .cjs or .mjs file: "${use}"`);
  let version: string;
  try {
    version = versionOf(file);
  } catch {
    return fail('use', `cannot find the file "${use}" (looked for ${file})`);
  }
  const before = stamps.get(file);
  if (before !== undefined && before.version !== version) {
    if (before.esm)
      return fail(
        'use',
        `"${use}" changed since it was loaded; an ES module cannot be unloaded, so only CommonJS files (.cjs) are re-read on reload: restart Portico to load the new version`,
      );
    // The documented way to make require read a CommonJS file again.
    delete nodeRequire.cache[file];
  }
  try {
    const loaded: unknown = nodeRequire(file);
    stamps.set(file, { version, esm: isModuleNamespace(loaded) });
    return { ok: true, value: loaded };
  } catch (err) {
    return fail('use', `cannot load "${use}": ${(err as Error).message.split('\n')[0] ?? 'error'}`);
  }
}

function requirePackage(use: string, baseDir: string): Step<unknown> {
  let file: string;
  try {
    file = nodeRequire.resolve(use, { paths: [baseDir, process.cwd(), PORTICO_ROOT] });
  } catch {
    return fail('use', `cannot find the package "${use}": install it beside Portico (npm install ${use})`);
  }
  try {
    return { ok: true, value: nodeRequire(file) as unknown };
  } catch (err) {
    return fail('use', `cannot load the package "${use}": ${(err as Error).message.split('\n')[0] ?? 'error'}`);
  }
}

/** The named export, else the default export, else the module itself when it is a function. */
function pickExport(mod: unknown, options: ExpressOptions): Step<(...args: unknown[]) => unknown> {
  const exports = (typeof mod === 'object' && mod !== null) || typeof mod === 'function' ? (mod as object) : {};
  const read = (name: string): unknown => (exports as Record<string, unknown>)[name];
  if (options.export !== undefined) {
    const value = read(options.export);
    if (value === undefined) {
      const names = Object.keys(exports).filter((name) => name !== 'default' && name !== '__esModule');
      return fail(
        'export',
        `"${options.use}" has no export "${options.export}"${names.length > 0 ? ` (it exports: ${names.slice(0, 8).join(', ')})` : ''}`,
      );
    }
    if (typeof value !== 'function') return fail('export', `export "${options.export}" is ${describe(value)}`);
    return { ok: true, value: value as (...args: unknown[]) => unknown };
  }
  if (typeof mod === 'function') return { ok: true, value: mod as (...args: unknown[]) => unknown };
  const fallback = read('default');
  if (typeof fallback === 'function') return { ok: true, value: fallback as (...args: unknown[]) => unknown };
  return fail('use', `"${options.use}" exports no function by default: name one with "export"`);
}

/** Calls the factory (unless `factory: false`) and checks that a `(req, res, next)` function came out. */
function toMiddleware(fn: (...args: unknown[]) => unknown, options: ExpressOptions): Step<ExpressMiddleware> {
  const name = options.export ?? options.use;
  let middleware: unknown = fn;
  if (options.factory) {
    try {
      middleware = options.options === undefined ? fn() : fn(options.options);
    } catch (err) {
      return fail(
        'options',
        `${name}(options) threw: ${(err as Error).message} (if the export is the middleware itself, set factory: false)`,
      );
    }
    if (typeof middleware !== 'function')
      return fail(
        'factory',
        `${name} called as a factory returned ${describe(middleware)}, not a middleware (if the export is the middleware itself, set factory: false)`,
      );
  }
  const arity = (middleware as (...args: unknown[]) => unknown).length;
  if (arity > 3)
    return fail(
      options.factory ? 'factory' : 'use',
      `${name} gives a function of ${arity} arguments: an error handler, which the express kind does not run (it takes (req, res, next))`,
    );
  return { ok: true, value: middleware as ExpressMiddleware };
}

/** Resolves, loads and checks one entry's module. */
export function loadMiddleware(options: ExpressOptions, baseDir: string): Step<LoadedMiddleware> {
  if (!options.factory && options.options !== undefined)
    return fail('options', 'options are given, but factory: false says the export is the middleware itself');
  const mod = isLocal(options.use) ? requireLocal(options.use, baseDir) : requirePackage(options.use, baseDir);
  if (!mod.ok) return mod;
  const fn = pickExport(mod.value, options);
  if (!fn.ok) return fn;
  const middleware = toMiddleware(fn.value, options);
  if (!middleware.ok) return middleware;
  return { ok: true, value: { middleware: middleware.value, module: options.use } };
}
