/**
 * `portico schema`: the JSON Schema of the config file, generated from the same zod schema the loader validates
 * with, for editors (`# yaml-language-server: $schema=...`). The shipped copy is config/portico.schema.json
 * (`npm run schema`; a test keeps it equal to this output).
 *
 * Fields that zod transforms lose their default in an input schema (the default is the parsed value); this puts
 * it back in the form a user writes (`250ms`, `0.0.0.0:8080`) and spells out what a duration accepts.
 */
import { z } from 'zod';
import { listenAddress } from './address.js';
import { DURATION_PATTERN, durationInput, formatDuration } from './duration.js';
import { configSchema } from './schema.js';
import { defOf } from './zod-def.js';

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
  return z.toJSONSchema(configSchema, {
    // Draft 7: the draft every YAML/JSON editor plugin understands; nothing here needs a later one.
    target: 'draft-07',
    io: 'input',
    unrepresentable: 'any',
    override: ({ zodSchema, jsonSchema }) => decorate(zodSchema, jsonSchema as Record<string, unknown>),
  }) as Record<string, unknown>;
}

export function printSchema(): string {
  return `${JSON.stringify({ ...configJsonSchema(), title: 'Portico configuration' }, null, 2)}\n`;
}
