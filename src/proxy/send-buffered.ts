/**
 * Sends a request whose body is already in memory to an upstream URL and resolves once the answer has been read to
 * its end (its body discarded). Used off the request path: mirrored copies (src/proxy/mirror.ts) and async-route
 * deliveries (src/tasks/deliver.ts). A response cut short rejects, as does a connection error or `signal`.
 */
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';

export interface BufferedRequest {
  readonly method: string;
  /** Path and query, appended to the target's own base path. */
  readonly path: string;
  readonly headers: OutgoingHttpHeaders;
  /** Empty: no body. */
  readonly body: Buffer;
}

export interface BufferedAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
}

export function sendBuffered(
  target: URL,
  agent: http.Agent,
  signal: AbortSignal,
  sent: BufferedRequest,
): Promise<BufferedAnswer> {
  const base = target.pathname === '/' ? '' : target.pathname.replace(/\/$/, '');
  const request = target.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        method: sent.method,
        path: base + sent.path,
        headers: sent.headers,
        agent,
        signal,
      },
      (res) => {
        res.on('error', reject);
        res.on('close', () =>
          res.complete
            ? resolve({ status: res.statusCode ?? 0, headers: res.headers })
            : reject(new Error('upstream response cut short')),
        );
        res.resume();
      },
    );
    outgoing.on('error', reject);
    outgoing.end(sent.body.length > 0 ? sent.body : undefined);
  });
}
