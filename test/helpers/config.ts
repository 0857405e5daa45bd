/** Loading config text the way the CLI does (default middleware registry), for the config tests. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../src/config/config-error.js';
import { loadConfigText } from '../../src/config/load.js';
import { defaultRegistry } from '../../src/middleware/registry.js';

/** The config fixtures: one file per refused config, each test naming the line and field its error must give. */
export const CONFIG_FIXTURES = join(__dirname, '..', 'fixtures', 'config');

/** Loads `text` as the file `inline.yaml`, with `env` as the environment `${VAR}` reads. */
export function loadInline(text: string, env: Record<string, string> = {}) {
  return loadConfigText(text, 'inline.yaml', { registry: defaultRegistry, env });
}

/** Loads the fixture `file` (under CONFIG_FIXTURES) with an empty environment. */
export function loadFixture(file: string) {
  return loadConfigText(readFileSync(join(CONFIG_FIXTURES, file), 'utf8'), file, {
    registry: defaultRegistry,
    env: {},
  });
}

/** The ConfigError message the fixture `file` is refused with; throws if it loads. */
export function fixtureError(file: string): string {
  try {
    loadFixture(file);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`${file} loaded without error`);
}
