/**
 * The JSON Schema for editors and the README's config reference are generated from the zod schema; these tests
 * fail when the shipped copies drift from it (`npm run schema`, `npm run docs` fix them) or when a key is
 * undocumented.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configJsonSchema, printSchema } from '../../src/config/json-schema.js';
import { configReference, END_MARKER, replaceReference, START_MARKER } from '../../src/config/reference.js';

const ROOT = join(__dirname, '..', '..');
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');

interface Json {
  description?: string;
  properties?: Record<string, Json>;
  items?: Json;
  additionalProperties?: Json | boolean;
  default?: unknown;
  anyOf?: Json[];
}

/** Key paths of every property in the schema (list items as `[]`, map values as `<name>`). */
function undocumented(json: Json, path: string): string[] {
  const missing: string[] = [];
  for (const [key, child] of Object.entries(json.properties ?? {})) {
    const here = `${path}${key}`;
    if (!child.description) missing.push(here);
    missing.push(...undocumented(child, `${here}.`));
  }
  if (json.items) missing.push(...undocumented(json.items, `${path}[].`));
  if (typeof json.additionalProperties === 'object')
    missing.push(...undocumented(json.additionalProperties, `${path}<name>.`));
  return missing;
}

describe('config/portico.schema.json', () => {
  test('equals `portico schema` (run `npm run schema` after changing the config schema)', () => {
    expect(read('config/portico.schema.json')).toBe(printSchema());
  });

  test('config/portico.yaml points editors at it', () => {
    expect(read('config/portico.yaml').split('\n')[0]).toBe('# yaml-language-server: $schema=./portico.schema.json');
  });

  test('every key has a description', () => {
    expect(undocumented(configJsonSchema() as Json, '')).toEqual([]);
  });

  test('defaults are shown as written in YAML: durations with a unit, listen addresses as host:port', () => {
    const schema = configJsonSchema() as { properties: Record<string, Json> };
    const server = schema.properties.server?.properties ?? {};
    expect(server.drainTimeout?.default).toBe('20s');
    expect(server.listen?.default).toBe('0.0.0.0:8080');
    expect(schema.properties.redis?.properties?.commandTimeout?.default).toBe('250ms');
    expect(schema.properties.redis?.properties?.cluster?.default).toEqual([]);
    // A duration accepts milliseconds or a number with a unit, and an editor can check the text.
    const pattern = new RegExp((server.drainTimeout?.anyOf?.[1] as { pattern: string }).pattern);
    expect(['250ms', '15s', '1.5m', '1h'].every((text) => pattern.test(text))).toBe(true);
    expect(pattern.test('15 seconds')).toBe(false);
  });
});

describe('README configuration reference', () => {
  test('is up to date (run `npm run docs` after changing the config schema)', () => {
    const readme = read('README.md');
    expect(readme).toContain(START_MARKER);
    expect(replaceReference(readme, configReference())).toBe(readme);
  });

  test('has one table per section, a row per key, with defaults in YAML form', () => {
    const reference = configReference();
    for (const section of [
      'server',
      'redis',
      'database',
      'telemetry',
      'rateLimits',
      'middleware',
      'routes',
      'userLookup',
      'workerPool',
    ]) {
      expect(reference).toContain(`### \`${section}\``);
    }
    expect(reference).toContain('| `drainTimeout` | duration | `20s` |');
    expect(reference).toContain(
      '| `logs.level` | `fatal` \\| `error` \\| `warn` \\| `info` \\| `debug` \\| `trace` \\| `silent` | `info` |',
    );
    expect(reference).toContain('| `limit` | integer | required |');
    expect(reference).toContain('| `mirror.sampleRatio` | number | `1` |');
  });

  test('replacing keeps everything outside the markers', () => {
    const before = `# T\n\nintro\n${START_MARKER}\nold\n${END_MARKER}\n\nafter\n`;
    expect(replaceReference(before, 'new')).toBe(`# T\n\nintro\n${START_MARKER}\nnew\n${END_MARKER}\n\nafter\n`);
    expect(() => replaceReference('no markers', 'x')).toThrow(/config-reference/);
  });
});
