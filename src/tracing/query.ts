/**
 * The query string as spans carry it (server `url.query`, client `url.full`): `url.query` with every value replaced by `REDACTED`, names kept (`token=REDACTED&page=REDACTED`): a query string
 * carries tokens, emails and signatures often enough that no value is exported (semantic conventions: sensitive
 * content SHOULD be scrubbed). Undefined without a query.
 */
export function redactedQuery(url: string | undefined): string | undefined {
  const q = url?.indexOf('?') ?? -1;
  if (url === undefined || q === -1 || q === url.length - 1) return undefined;
  let out = '';
  for (const part of url.slice(q + 1).split('&')) {
    const eq = part.indexOf('=');
    out += `${out === '' ? '' : '&'}${eq === -1 ? part : `${part.slice(0, eq)}=REDACTED`}`;
  }
  return out;
}
