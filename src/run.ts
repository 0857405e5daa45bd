/**
 * The serving process: load the file, start logs and tracing, then load and start the server, and map signals to
 * behaviour. SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the file (an invalid file is logged and the running
 * plan keeps serving); an uncaught error is logged as fatal, flushed, and exits 1.
 *
 * This module imports nothing that OpenTelemetry instruments (express, http-proxy-middleware, ioredis, pg): the
 * server is imported only after `startTelemetry`, see src/telemetry/bootstrap.ts for why the order matters.
 */
import type http from 'node:http';
import type { ListenAddress } from './config/address.js';
import { loadConfigFile } from './config/load.js';
import { defaultRegistry } from './middleware/registry.js';
import { startTelemetry } from './telemetry/bootstrap.js';
import { createLogger, logFatalAndExit } from './telemetry/logger.js';

export interface RunOptions {
  readonly file: string;
  readonly demoUpstream?: ListenAddress | undefined;
}

export async function runServer(options: RunOptions): Promise<void> {
  const config = await loadConfigFile(options.file, { registry: defaultRegistry });
  const log = createLogger(config.telemetry);
  const { logger } = log;
  process.on('uncaughtException', (err) => logFatalAndExit(log, err, 'uncaughtException'));
  process.on('unhandledRejection', (err) => logFatalAndExit(log, err, 'unhandledRejection'));
  const telemetry = startTelemetry(config.telemetry, { logger });

  const { startPortico } = await import('./main.js');
  let demo: http.Server | undefined;
  if (options.demoUpstream) {
    const { startDemoUpstream } = await import('./demo/upstream.js');
    demo = await startDemoUpstream(options.demoUpstream.host, options.demoUpstream.port);
    logger.info({ address: `${options.demoUpstream.host}:${options.demoUpstream.port}` }, 'demo upstream listening');
  }
  const portico = await startPortico({
    config,
    logger,
    configFile: options.file,
    watch: true,
    telemetryDrops: () => ({ spans: telemetry.droppedSpans(), logLines: log.dropped() }),
  });

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining');
    let code = 0;
    try {
      await portico.shutdown();
      demo?.close();
      demo?.closeAllConnections();
    } catch (err) {
      logger.error({ err }, 'shutdown failed');
      code = 1;
    }
    try {
      await telemetry.shutdown();
      await log.flush();
    } finally {
      process.exit(code);
    }
  };
  // Neither promise can reject: stop() ends in process.exit whatever happens; reloadFromFile() catches, counts and
  // logs every failure.
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGHUP', () => void portico.reloadFromFile());
}
