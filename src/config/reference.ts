/**
 * The README's configuration reference, generated from the config's JSON Schema (so from the zod schema the loader
 * validates with): one markdown table per top-level section, written between the `config-reference` markers.
 * `npm run docs` rewrites README.md; a unit test fails when the README is out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { DURATION_PATTERN } from './duration.js';
import { configJsonSchema, INTERPOLATED_REF } from './json-schema.js';

export const START_MARKER = '<!-- config-reference:start -->';
export const END_MARKER = '<!-- config-reference:end -->';

interface Json {
  readonly type?: string | readonly string[];
  readonly description?: string;
  readonly default?: unknown;
  readonly enum?: readonly unknown[];
  readonly const?: unknown;
  readonly pattern?: string;
  readonly anyOf?: readonly Json[];
  readonly $ref?: string;
  readonly items?: Json;
  readonly properties?: Readonly<Record<string, Json>>;
  readonly additionalProperties?: Json | boolean;
  readonly required?: readonly string[];
}

interface Row {
  readonly key: string;
  readonly type: string;
  readonly value: string;
  readonly description: string;
}

const cell = (text: string): string => text.replaceAll('|', '\\|');
const code = (text: string): string => `\`${text}\``;

function isDuration(json: Json): boolean {
  return json.anyOf?.some((option) => option.pattern === DURATION_PATTERN) ?? false;
}

const parenthesised = (label: string): string => (label.includes(' or ') ? `(${label})` : label);

/** A short type label: `duration`, an enumeration of literals, `string or list of string`, … (patterns are left to the description). */
function typeOf(json: Json): string {
  if (isDuration(json)) return 'duration';
  if (json.enum) return json.enum.map((value) => code(String(value))).join(' | ');
  if (json.const !== undefined) return 'string';
  // Every constrained value also takes a `${VAR}` reference; the README says so once, not in every row.
  if (json.anyOf)
    return [...new Set(json.anyOf.filter((option) => option.$ref !== INTERPOLATED_REF).map(typeOf))].join(' or ');
  if (json.type === 'array') return json.items ? `list of ${parenthesised(typeOf(json.items))}` : 'list';
  if (json.type === 'object') return 'map';
  if (Array.isArray(json.type)) return json.type.join(' or ');
  return typeof json.type === 'string' ? json.type : 'any';
}

function valueOf(json: Json, required: boolean): string {
  if (required) return 'required';
  if (json.default === undefined) return '';
  if (typeof json.default === 'string') return json.default === '' ? '`""`' : code(json.default);
  return code(JSON.stringify(json.default));
}

/** Rows for the keys of an object schema, nested objects flattened to dotted keys (`logs.level`). */
function rows(json: Json, prefix = ''): Row[] {
  const out: Row[] = [];
  for (const [name, child] of Object.entries(json.properties ?? {})) {
    const key = `${prefix}${name}`;
    const required = json.required?.includes(name) ?? false;
    out.push({
      key,
      type: child.properties ? 'map' : typeOf(child),
      value: valueOf(child, required),
      description: child.description ?? '',
    });
    if (child.properties) out.push(...rows(child, `${key}.`));
  }
  return out;
}

function table(list: readonly Row[]): string {
  const lines = ['| key | type | default | description |', '| --- | --- | --- | --- |'];
  for (const row of list)
    lines.push(`| ${code(row.key)} | ${cell(row.type)} | ${cell(row.value)} | ${cell(row.description)} |`);
  return lines.join('\n');
}

/** The body of one section: its description, then the table of its keys (items of a list, values of a map). */
function section(name: string, json: Json): string {
  const intro = json.description ?? '';
  const entry =
    json.type === 'array'
      ? json.items
      : typeof json.additionalProperties === 'object'
        ? json.additionalProperties
        : json;
  if (entry?.properties) {
    const shape =
      json.type === 'array' ? `A list; each item:` : json === entry ? '' : `A map of name to policy; each policy:`;
    return [
      `### ${code(name)}`,
      '',
      [intro, shape].filter((text) => text !== '').join(' '),
      '',
      table(rows(entry)),
    ].join('\n');
  }
  const row = {
    key: name,
    type: typeOf(json),
    value: valueOf(json, false),
    description: json.items?.description ?? '',
  };
  return [`### ${code(name)}`, '', intro, '', table([row])].join('\n');
}

/** The generated markdown, without the markers. */
export function configReference(schema: Json = configJsonSchema() as Json): string {
  const sections = Object.entries(schema.properties ?? {}).map(([name, json]) => section(name, json));
  const head =
    'Generated from the config schema by `npm run docs` (do not edit by hand). Durations are a number of milliseconds or a number with a unit (`250ms`, `15s`, `1m`, `1h`).';
  return [head, ...sections].join('\n\n');
}

/** `readme` with the text between the markers replaced by `reference`; throws when the markers are missing. */
export function replaceReference(readme: string, reference: string): string {
  const start = readme.indexOf(START_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (start === -1 || end < start) throw new Error(`README has no ${START_MARKER} … ${END_MARKER} block`);
  return `${readme.slice(0, start + START_MARKER.length)}\n${reference}\n${readme.slice(end)}`;
}

/** `node dist/config/reference.js [README.md]`: rewrites the block in place. */
if (require.main === module) {
  const file = process.argv[2] ?? 'README.md';
  writeFileSync(file, replaceReference(readFileSync(file, 'utf8'), configReference()));
}
