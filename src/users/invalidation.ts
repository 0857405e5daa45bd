/**
 * Invalidation by Redis pub/sub, for the service that owns the users: after its transaction commits it runs
 * `PUBLISH <channel> <id>` and every Portico instance invalidates that id. Uses its own connection (a subscribed
 * connection can do nothing else) and resubscribes on every reconnect.
 */
import { subscriberOf, type RedisClient } from '../stores/connect.js';
import type { Logger } from 'pino';
import { throttledWarn } from './throttled-log.js';
import { parseUserId } from './user.js';

export interface Subscription {
  close(): void;
}

export function subscribeInvalidations(
  client: RedisClient,
  channel: string,
  invalidate: (id: string) => Promise<void>,
  logger: Logger,
  errorLogInterval: number,
): Subscription {
  // Offline queue on and no command timeout: a subscribe waits for the connection instead of failing.
  const sub = subscriberOf(client);
  const warn = throttledWarn(logger, 'user invalidation channel failed', errorLogInterval);
  sub.on('error', (err: Error) => warn(err, { channel }));
  sub.on('ready', () => {
    sub.subscribe(channel).catch((err: unknown) => warn(err, { channel }));
  });
  sub.on('message', (from: string, message: string) => {
    if (from !== channel) return;
    const id = parseUserId(message.trim());
    if (id === undefined) {
      warn(new Error('message is not a user id'), { channel, message: message.slice(0, 40) });
      return;
    }
    invalidate(id).catch((err: unknown) => warn(err, { channel, userId: id }));
  });
  return { close: () => sub.disconnect() };
}
