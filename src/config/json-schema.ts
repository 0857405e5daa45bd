/**
 * `portico schema`: the JSON Schema of the config file, generated from the same zod schema the loader validates
 * with, for editors (`# yaml-language-server: $schema=...`). The shipped copy is config/portico.schema.json
 * (`npm run schema`; a test keeps it equal to this output).
 *
 * Fields that zod transforms lose their default in an input schema (the default is the parsed value); this puts
 * it back in the form a user writes (`250ms`, `0.0.0.0:8080`) and spells out what a duration accepts.
 *
 * An editor sees the file before `${VAR}` interpolation, so wherever the loader would accept an interpolated value
 * (a number, boolean, duration, enumeration, pattern or format), the schema also accepts a string holding a
 * reference (`limit: ${LIMIT:-100}`). It is looser than the loader there: what the variable holds is checked by
 * `portico check`, not by the editor.
 */
import { z } from 'zod';
import { listenAddress } from './address.js';
import { DURATION_PATTERN, durationInput, formatDuration } from './duration.js';
import { configSchema } from './schema.js';
import { defOf } from './zod-def.js';

/** The formats of JSON Schema draft 7; anything else is unknown to validators in strict mode. */
const STANDARD_FORMATS = new Set([
  'date-time',
  'date',
  'time',
  'email',
  'idn-email',
  'hostname',
  'idn-hostname',
  'ipv4',
  'ipv6',
  'uri',
  'uri-reference',
  'iri',
  'iri-reference',
  'uri-template',
  'json-pointer',
  'relative-json-pointer',
  'regex',
]);

/** Name of the definition of a string holding a `${VAR}` reference, as loaded by src/config/interpolate.ts. */
export const INTERPOLATED = 'interpolated';
export const INTERPOLATED_REF = `#/definitions/${INTERPOLATED}`;
const interpolatedSchema = {
  type: 'string',
  pattern: '\\$\\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\\}',
  description: 'A value taken from the environment: `${VAR}` or `${VAR:-default}`, checked after interpolation.',
};

function isDuration(schema: unknown): boolean {
  const def = defOf(schema);
  return def.type === 'pipe' && def.in === durationInput;
}

/** A default as the user would write it, or undefined when it has no such form. */
function inputDefault(inner: z.ZodType | undefined, value: unknown): unknown {
  if (inner !== undefined && isDuration(inner) && typeof value === 'number') return formatDuration(value);
  if (inner === listenAddress && typeof value === 'object' && value !== null) {
    const { host, port } = value as { host: string; port: number };
    return `${host.includes(':') ? `[${host}]` : host}:${port}`;
  }
  return isPlainData(value) ? value : undefined;
}

/** Strings, numbers, booleans, null, and arrays or plain objects of them: the same before and after parsing. */
function isPlainData(value: unknown): boolean {
  if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return true;
  if (Array.isArray(value)) return value.every(isPlainData);
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype)
    return Object.values(value as object).every(isPlainData);
  return false;
}

function decorate(zodSchema: unknown, json: Record<string, unknown>): void {
  // zod names `.startsWith()` and its kin as formats no validator knows (Ajv's strict mode refuses them); the
  // pattern it emits beside them says the same.
  if (typeof json.format === 'string' && !STANDARD_FORMATS.has(json.format) && json.pattern !== undefined)
    delete json.format;
  if (isDuration(zodSchema)) {
    delete json.type;
    json.anyOf = [
      { type: 'number', minimum: 0, description: 'milliseconds' },
      {
        type: 'string',
        pattern: DURATION_PATTERN,
        description: 'a number with a unit: ms, s, m or h (`250ms`, `15s`, `1.5m`, `1h`)',
      },
    ];
  }
  const def = defOf(zodSchema);
  if (def.type === 'default' && json.default === undefined) {
    const value = inputDefault(def.innerType, def.defaultValue);
    if (value !== undefined) json.default = value;
  }
}

export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, {
    // Draft 7: the draft every YAML/JSON editor plugin understands; nothing here needs a later one.
    target: 'draft-07',
    io: 'input',
    unrepresentable: 'any',
    override: ({ zodSchema, jsonSchema }) => decorate(zodSchema, jsonSchema as Record<string, unknown>),
  }) as Record<string, unknown>;
  allowReferences(schema);
  const definitions = (schema.definitions ?? {}) as Record<string, unknown>;
  return { ...schema, definitions: { ...definitions, [INTERPOLATED]: interpolatedSchema } };
}

type Json = Record<string, unknown>;
const isJson = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A value whose text an interpolated reference could not match as written. */
function constrained(node: Json): boolean {
  if (node.type === 'number' || node.type === 'integer' || node.type === 'boolean') return true;
  return node.type === 'string' && ['pattern', 'format', 'enum', 'const'].some((key) => node[key] !== undefined);
}

/** Keys that describe a value rather than constrain it: they stay on the outside when a value is wrapped. */
const ANNOTATIONS = new Set(['description', 'default', 'title', 'examples']);

/** Adds "or a `${VAR}` reference" to every constrained value, in place. */
function allowReferences(node: Json): void {
  for (const key of ['properties', 'definitions'])
    if (isJson(node[key])) for (const child of Object.values(node[key])) if (isJson(child)) allowReferences(child);
  for (const key of ['items', 'additionalProperties']) if (isJson(node[key])) allowReferences(node[key]);
  if (Array.isArray(node.anyOf)) {
    const options = node.anyOf.filter(isJson);
    for (const option of options) if (!constrained(option)) allowReferences(option);
    if (options.some(constrained)) node.anyOf = [...options, { $ref: INTERPOLATED_REF }];
    return;
  }
  if (!constrained(node)) return;
  const value: Json = {};
  for (const [key, child] of Object.entries(node)) {
    if (ANNOTATIONS.has(key)) continue;
    value[key] = child;
    delete node[key];
  }
  node.anyOf = [value, { $ref: INTERPOLATED_REF }];
}

export function printSchema(): string {
  return `${JSON.stringify({ ...configJsonSchema(), title: 'Portico configuration' }, null, 2)}\n`;
}
