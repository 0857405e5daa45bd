/**
 * `portico schema`: the JSON Schema of the config file, generated from the same zod schema the loader validates
 * with, for editors (`# yaml-language-server: $schema=...`).
 */
import { z } from 'zod';
import { configSchema } from './schema.js';

export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

export function printSchema(): string {
  return `${JSON.stringify({ ...configJsonSchema(), title: 'Portico configuration' }, null, 2)}\n`;
}
