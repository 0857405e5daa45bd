/**
 * Portico from a config file in a fresh folder that also holds the plugin fixtures (test/fixtures/express), so
 * `use: ./x.mjs` resolves beside the file and a test may rewrite a plugin or the file and reload.
 */
import { copyFileSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { loadConfigFile } from '../../src/config/load.js';
import { defaultRegistry } from '../../src/middleware/registry.js';
import type { KindRegistry } from '../../src/middleware/entries.js';
import { startPortico, type Portico } from '../../src/main.js';
import { silentLogger } from './portico.js';

const FIXTURES = join(__dirname, '..', 'fixtures', 'express');

export interface PluginFolder {
  readonly dir: string;
  readonly file: string;
  write(yaml: string): void;
}

/** A temporary folder with the plugins and a `portico.yaml` (listeners on port 0, no user lookup). */
export function pluginFolder(): PluginFolder {
  const dir = mkdtempSync(join(tmpdir(), 'portico-express-'));
  for (const name of readdirSync(FIXTURES)) copyFileSync(join(FIXTURES, name), join(dir, name));
  const file = join(dir, 'portico.yaml');
  return {
    dir,
    file,
    write(yaml) {
      writeFileSync(
        file,
        `server:\n  listen: 127.0.0.1:0\n  admin: 127.0.0.1:0\nuserLookup:\n  enabled: false\n${yaml}`,
      );
    },
  };
}

export async function startFromFolder(
  folder: PluginFolder,
  logger: Logger = silentLogger,
  registry: KindRegistry = defaultRegistry,
): Promise<Portico> {
  const config = await loadConfigFile(folder.file, { registry, env: {} });
  return startPortico({ config, configFile: folder.file, logger, registry });
}
