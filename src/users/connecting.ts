/**
 * The repository while the database may still be down at start. The lookup must not wait for it: the cache can
 * answer users it holds, so until the database is prepared (connected, migrated, verified) every query fails as
 * PORTICO_DATABASE_UNAVAILABLE (503 + Retry-After, cached users unaffected) and preparation is retried in the
 * background every `retryMs`, each attempt bounded by the database's own connect and statement timeouts.
 */
import type { Logger } from 'pino';
import { PorticoError } from '../errors.js';
import type { SqlUserRepository, UserRepository } from './repository.js';
import type { User } from './user.js';

export interface ConnectingRepository extends UserRepository {
  /** The prepared repository, once the database answered. */
  readonly ready: SqlUserRepository | undefined;
  /** Stops retrying and closes the database if it was prepared (or is being prepared now). */
  close(): Promise<void>;
}

export async function connectingRepository(
  prepare: () => Promise<SqlUserRepository>,
  logger: Logger,
  retryMs = 5000,
): Promise<ConnectingRepository> {
  let ready: SqlUserRepository | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let attempt: Promise<void> | undefined;
  const connect = async (): Promise<void> => {
    try {
      const prepared = await prepare();
      if (closed) await prepared.db.close();
      else ready = prepared;
      if (timer !== undefined) logger.info('user database reachable again; lookups use it');
    } catch (err) {
      if (closed) return;
      logger.error({ err }, `user database unavailable; uncached users answer 503; retrying in ${retryMs / 1000}s`);
      timer = setTimeout(() => {
        attempt = connect();
      }, retryMs).unref();
    }
  };
  attempt = connect();
  await attempt;
  return {
    get ready() {
      return ready;
    },
    findById(id: string): Promise<User | undefined> {
      if (ready !== undefined) return ready.findById(id);
      return Promise.reject(
        new PorticoError('PORTICO_DATABASE_UNAVAILABLE', 'user database not reachable yet', {
          context: { userId: id },
        }),
      );
    },
    async close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      await attempt;
      await ready?.db.close();
    },
  };
}
