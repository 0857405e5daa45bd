/**
 * `GET <statusPath>/<id>` on the proxy port: a task's status document, 404 when the store knows no such task (never
 * accepted, or past `retention`), 503 with Retry-After when the store is down. One built-in route per async route;
 * it runs the global middleware chain like any built-in.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BuiltinRoute } from '../middleware/kind.js';
import { isPorticoError, sendProblem } from '../errors.js';
import type { TaskStatus, TaskStore } from './types.js';

function matcher(prefix: string): BuiltinRoute['matches'] {
  return (method, path) =>
    (method === 'GET' || method === 'HEAD') &&
    path.length > prefix.length &&
    path.startsWith(prefix) &&
    !path.includes('/', prefix.length);
}

/** The id from the path; undefined for malformed percent-encoding (no task has such an id: 404). */
function decoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

export function statusRoute(route: string, statusPath: string, store: () => TaskStore | undefined): BuiltinRoute {
  const prefix = `${statusPath}/`;
  const name = `${route}.status`;
  // Errors other than the store's reject, and the built-in's runner hands them to the chain's error sink.
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const fields = { requestId: req.portico?.id, route: name };
    const url = req.url as string;
    const query = url.indexOf('?');
    const id = decoded(url.slice(prefix.length, query === -1 ? undefined : query));
    let status: TaskStatus | undefined;
    try {
      status = id === undefined ? undefined : await store()?.status(id);
    } catch (err) {
      if (!isPorticoError(err)) throw err;
      sendProblem(res, err.code, fields, { headers: err.headers }); // the store is down: 503, Retry-After
      return;
    }
    if (status === undefined) {
      sendProblem(res, 'PORTICO_TASK_NOT_FOUND', fields, { detail: 'no such task, or past its retention' });
      return;
    }
    const body = JSON.stringify(status);
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    });
    res.end(body);
  };
  return { name, matches: matcher(prefix), middleware: [], handler, template: `${statusPath}/:id` };
}
