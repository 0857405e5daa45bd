/**
 * `headers`: sets or removes request headers (before forwarding) and response headers (before they are sent).
 * Header names are lower-cased and values checked at load, so the handler only assigns.
 */
import { z } from 'zod';
import { removeHeader } from '../proxy/headers.js';
import { defineKind } from './kind.js';

const headerName = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be a valid header name')
  .transform((name) => name.toLowerCase());
const headerValue = z.string().regex(/^[\t\x20-\x7e]*$/, 'must be printable ASCII');

const sideSchema = z
  .strictObject({
    set: z.record(headerName, headerValue).default({}),
    remove: z.array(headerName).default([]),
  })
  .prefault({});

export const headersKind = defineKind({
  name: 'headers',
  options: z.strictObject({ request: sideSchema, response: sideSchema }),
  create(options) {
    const requestSet = Object.entries(options.request.set);
    const requestRemove = options.request.remove;
    const responseSet = Object.entries(options.response.set);
    const responseRemove = options.response.remove;
    const touchesResponse = responseSet.length > 0 || responseRemove.length > 0;
    return (req, res, next) => {
      for (const name of requestRemove) removeHeader(req.headers, name);
      for (const [name, value] of requestSet) req.headers[name] = value;
      if (touchesResponse) {
        // writeHead is the last moment every response header (upstream's included) is known and still mutable.
        // Called with apply(this) below; reading it (not the prototype's) keeps a wrapper an earlier kind installed.
        // eslint-disable-next-line @typescript-eslint/unbound-method
        const writeHead = res.writeHead;
        res.writeHead = function patchedWriteHead(this: typeof res, ...args: Parameters<typeof writeHead>) {
          for (const name of responseRemove) this.removeHeader(name);
          for (const [name, value] of responseSet) this.setHeader(name, value);
          return writeHead.apply(this, args);
        } as typeof writeHead;
      }
      next();
    };
  },
});
