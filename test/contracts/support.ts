/**
 * Library contracts: behaviour Portico relies on that its libraries do not promise (private fields, call order,
 * the exact surface a duck-typed object must offer). One test per assumption. A failure names the Portico code that
 * relies on it, so a dependency upgrade that breaks an assumption fails here first, with the place to fix.
 */
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

/**
 * Declares one assumption. `reliedOnBy` is the Portico file and function that depend on it; it prefixes the
 * failure so the report says what breaks, not just which expectation.
 */
export function assumption(statement: string, reliedOnBy: string, check: () => unknown, timeoutMs?: number): void {
  test(
    statement,
    async () => {
      try {
        await check();
      } catch (err) {
        const detail = err instanceof Error ? err.message : String(err);
        throw new Error(`Library contract broken: ${statement}\nRelied on by: ${reliedOnBy}\n\n${detail}`, {
          cause: err,
        });
      }
    },
    timeoutMs,
  );
}

/** An HTTP server on 127.0.0.1, port 0. */
export async function listen(handler: http.RequestListener): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}` };
}

export async function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  server.close();
  await once(server, 'close');
}

/** Names of the properties read from `target` through the returned proxy (methods included). */
export function recordingReads<T extends object>(target: T): { proxy: T; reads: Set<PropertyKey> } {
  const reads = new Set<PropertyKey>();
  const proxy = new Proxy(target, {
    get(object, key, receiver) {
      reads.add(key);
      return Reflect.get(object, key, receiver) as unknown;
    },
  });
  return { proxy, reads };
}
