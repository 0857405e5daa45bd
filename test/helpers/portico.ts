/**
 * Starts Portico in-process from YAML text, on 127.0.0.1 port 0 for both listeners, with a silent logger unless a
 * test passes its own. Config text goes through the real loader, so tests exercise the same path as a file.
 */
import pino, { type Logger } from 'pino';
import { loadConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { defaultRegistry } from '../../src/middleware/registry.js';
import { startPortico, type Portico, type PorticoOptions } from '../../src/main.js';

export const silentLogger: Logger = pino({ level: 'silent' });

/** Prepends a server section listening on ephemeral loopback ports unless the text has its own. */
export function testConfig(yaml: string, env: Record<string, string> = {}): Config {
  let text = yaml.includes('server:') ? yaml : `server:\n  listen: 127.0.0.1:0\n  admin: 127.0.0.1:0\n${yaml}`;
  // The user lookup opens a database; suites that do not test it leave it off.
  if (!/^userLookup:/m.test(text)) text += '\nuserLookup:\n  enabled: false\n';
  return loadConfigText(text, 'test.yaml', { registry: defaultRegistry, env });
}

export async function startTestPortico(
  yaml: string,
  options: Omit<PorticoOptions, 'config'> & { env?: Record<string, string> } = {},
): Promise<Portico> {
  return startPortico({ logger: silentLogger, ...options, config: testConfig(yaml, options.env) });
}
