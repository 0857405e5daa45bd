/**
 * The serving process: load the file, start Portico, and map signals to behaviour. SIGTERM/SIGINT drain and exit 0;
 * SIGHUP reloads the file (an invalid file is logged and the running plan keeps serving).
 */
import type http from 'node:http';
import pino from 'pino';
import type { ListenAddress } from './config/address.js';
import { loadConfigFile } from './config/load.js';
import { defaultRegistry } from './middleware/registry.js';
import { startDemoUpstream } from './demo/upstream.js';
import { startPortico } from './main.js';

export interface RunOptions {
  readonly file: string;
  readonly demoUpstream?: ListenAddress | undefined;
}

export async function runServer(options: RunOptions): Promise<void> {
  const config = await loadConfigFile(options.file, { registry: defaultRegistry });
  const logger = pino({ level: config.telemetry.logs.level });
  let demo: http.Server | undefined;
  if (options.demoUpstream) {
    demo = await startDemoUpstream(options.demoUpstream.host, options.demoUpstream.port);
    logger.info({ address: `${options.demoUpstream.host}:${options.demoUpstream.port}` }, 'demo upstream listening');
  }
  const portico = await startPortico({ config, logger, configFile: options.file, watch: true });

  const stop = (signal: string) => {
    logger.info({ signal }, 'draining');
    portico
      .shutdown()
      .then(() => {
        demo?.close();
        demo?.closeAllConnections();
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => void portico.reloadFromFile());
}
