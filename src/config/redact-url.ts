/**
 * URLs with their secret parts masked: the userinfo, each query value and the fragment. `/config` shows every URL of
 * the config this way, and config errors that quote a URL quote it this way, so a refused reload logs no credential.
 */
const MASK = '***';
/** Only text with a scheme and `//` is read as a URL: `localhost:6379` parses as one, but has nothing to hide. */
const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;

function maskQuery(search: string): string {
  return search
    .slice(1)
    .split('&')
    .map((pair) => {
      if (pair === '') return pair;
      const eq = pair.indexOf('=');
      return eq === -1 ? MASK : `${pair.slice(0, eq)}=${MASK}`;
    })
    .join('&');
}

/**
 * The URL with its userinfo password masked (a lone username too: `https://TOKEN@host` is a common way to pass a
 * token), each query value masked (names kept) and the fragment masked. Text that is not a URL is returned as is.
 */
export function redactUrl(text: string): string {
  if (!URL_LIKE.test(text)) return text;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text;
  }
  if (url.username === '' && url.password === '' && url.search === '' && url.hash === '') return text;
  if (url.password !== '') url.password = MASK;
  else if (url.username !== '') url.username = MASK;
  if (url.search !== '') url.search = maskQuery(url.search);
  if (url.hash !== '') url.hash = MASK;
  return url.href;
}

/**
 * For text that does not parse as a URL, quoted in a config error: anything that could be userinfo (before an `@`),
 * a query or a fragment is masked.
 */
export function redactUnparsedUrl(text: string): string {
  const at = text.lastIndexOf('@');
  const slashes = text.indexOf('//');
  const start = slashes === -1 || slashes > at ? 0 : slashes + 2; // without `//`, all text before the `@` may be userinfo
  const masked = at === -1 ? text : `${text.slice(0, start)}${MASK}${text.slice(at)}`;
  const query = masked.search(/[?#]/);
  return query === -1 ? masked : `${masked.slice(0, query + 1)}${MASK}`;
}
