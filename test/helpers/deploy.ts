/**
 * Offline checks of the deployment examples: reading the Dockerfile's runtime contract (config path, ports, stop
 * signal, user) and loading a Portico config embedded in a manifest through Portico's own loader.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { defaultRegistry } from '../../src/middleware/registry.js';

export const ROOT = join(__dirname, '..', '..');

export function readRepoFile(file: string): string {
  return readFileSync(join(ROOT, file), 'utf8');
}

export interface DockerfileContract {
  readonly env: Readonly<Record<string, string>>;
  readonly exposed: readonly number[];
  readonly stopSignal: string | undefined;
  readonly user: string | undefined;
}

/** The runtime stage (the last FROM) of the repository's Dockerfile. */
export function dockerfileContract(): DockerfileContract {
  const text = readRepoFile('Dockerfile').replace(/\\\n\s*/g, ' ');
  const runtime = text.slice(text.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const line of runtime.split('\n').filter((l) => l.startsWith('ENV '))) {
    for (const [, name, value] of line.slice(4).matchAll(/([A-Z_]+)=(\S+)/g)) env[name as string] = value as string;
  }
  const exposed = (/^EXPOSE (.+)$/m.exec(runtime)?.[1] ?? '').split(/\s+/).map(Number);
  return {
    env,
    exposed,
    stopSignal: /^STOPSIGNAL (\S+)$/m.exec(runtime)?.[1],
    user: /^USER (\S+)$/m.exec(runtime)?.[1],
  };
}

/** Loads config text the way `portico serve` would, with `env` as the process environment. */
export function loadEmbeddedConfig(text: string, name: string, env: Record<string, string>): Config {
  return loadConfigText(text, name, { registry: defaultRegistry, env });
}
