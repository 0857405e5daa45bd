/**
 * config/portico.schema.json as editors use it: it compiles in Ajv's strict mode (unknown formats and keywords
 * are errors there, as in several editor plugins), and it accepts what `portico check` accepts, read as the
 * editor reads the file: before `${VAR}` interpolation. The shipped configs and the README's config examples
 * must validate.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfigText } from '../../src/config/load.js';
import { defaultRegistry } from '../../src/middleware/registry.js';
import { readRepoFile, ROOT } from '../helpers/deploy.js';
import { allYamlBlocks } from '../helpers/markdown-yaml.js';

function compile(): ValidateFunction {
  const ajv = new Ajv({ strict: true, allErrors: true });
  addFormats(ajv);
  return ajv.compile(JSON.parse(readRepoFile('config/portico.schema.json')) as object);
}

function errorsOf(validate: ValidateFunction, value: unknown): string[] {
  if (validate(value)) return [];
  return (validate.errors ?? []).map((err) => `${err.instancePath || '/'} ${err.message ?? err.keyword}`);
}

/** Every Portico config the repository ships: config/*.yaml, the Compose config and the Kubernetes ConfigMap's. */
function shippedConfigs(): Array<[string, unknown]> {
  const configs = readdirSync(join(ROOT, 'config'))
    .filter((file) => file.endsWith('.yaml'))
    .map((file): [string, unknown] => [`config/${file}`, parse(readRepoFile(`config/${file}`))]);
  configs.push(['deploy/compose/portico.yaml', parse(readRepoFile('deploy/compose/portico.yaml'))]);
  for (const doc of parseAllDocuments(readRepoFile('deploy/kubernetes/configmap.yaml'))) {
    const map = doc.toJS() as { kind: string; data?: Record<string, string> };
    const text = map.kind === 'ConfigMap' ? map.data?.['portico.yaml'] : undefined;
    if (text !== undefined) configs.push(['deploy/kubernetes/configmap.yaml', parse(text)]);
  }
  return configs;
}

test('compiles in strict mode, with the standard formats', () => {
  expect(compile).not.toThrow();
});

test.each(shippedConfigs())('%s validates', (_file, value) => {
  expect(errorsOf(compile(), value)).toEqual([]);
});

test.each(
  allYamlBlocks()
    .filter((block) => !block.fragment)
    .map((block) => [block.where, block.text] as const),
)('the README example at %s validates', (_where, text) => {
  expect(errorsOf(compile(), parse(text))).toEqual([]);
});

describe('`${VAR}` references, where check accepts them after interpolation', () => {
  const validate = compile();
  const config = (yaml: string): unknown => parse(yaml);

  test.each([
    // Block style: in a flow map `{` and `}` are syntax, and a quoted reference stays a string for the loader.
    ['an integer', 'rateLimits:\n  p:\n    key: ip\n    limit: ${LIMIT:-100}\n    window: 1m\n'],
    [
      'a number',
      'routes:\n  - name: a\n    upstream: http://127.0.0.1:1\n    mirror:\n      upstream: http://127.0.0.1:2\n      sampleRatio: ${RATIO}\n',
    ],
    ['a boolean', 'routes:\n  - name: a\n    upstream: http://127.0.0.1:1\n    stripPrefix: ${STRIP:-false}\n'],
    ['a duration', 'server:\n  drainTimeout: ${DRAIN:-20s}\n'],
    ['a duration with the unit outside', 'server:\n  drainTimeout: ${DRAIN_SECONDS:-20}s\n'],
    ['an enumeration', 'telemetry:\n  logs: { level: "${LOG_LEVEL:-info}" }\n'],
    ['a URL with a format', 'telemetry:\n  traces: { endpoint: "${OTLP_ENDPOINT}" }\n'],
    [
      'a pattern',
      'routes:\n  - name: a\n    match: { pathPrefix: "${PREFIX:-/}" }\n    upstream: http://127.0.0.1:1\n',
    ],
  ])('in %s (and the loader accepts it once interpolated)', (_what, yaml) => {
    expect(errorsOf(validate, config(yaml))).toEqual([]);
    const env = { RATIO: '0.5', OTLP_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' };
    expect(() => loadConfigText(yaml, 'example.yaml', { registry: defaultRegistry, env })).not.toThrow();
  });

  test.each([
    ['a word for an integer', 'rateLimits:\n  p: { key: ip, limit: lots, window: 1m }\n'],
    ['a duration without a unit', 'server:\n  drainTimeout: 20 seconds\n'],
    ['a malformed reference', 'server:\n  drainTimeout: ${DRAIN\n'],
    ['an unknown enumeration value', 'telemetry:\n  logs: { level: loud }\n'],
    ['an unknown key', 'server:\n  listne: :8080\n'],
  ])('still rejects %s', (_what, yaml) => {
    expect(errorsOf(validate, config(yaml)).length).toBeGreaterThan(0);
  });
});
