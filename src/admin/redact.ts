/**
 * Redaction for `/config`: URL passwords become `***`, and values under secret-looking keys are replaced.
 */
const SECRET_KEY = /token|password|secret|apikey|api_key|credential/i;

function redactUrlText(text: string): string {
  try {
    const url = new URL(text);
    if (url.password === '' && url.username === '') return text;
    if (url.password !== '') url.password = '***';
    return url.href;
  } catch {
    return text;
  }
}

export function redactConfig(value: unknown, key = ''): unknown {
  if (value instanceof URL) return redactUrlText(value.href);
  if (typeof value === 'string') return SECRET_KEY.test(key) && value !== '' ? '***' : redactUrlText(value);
  if (Array.isArray(value)) return value.map((item) => redactConfig(item, key));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [childKey, child] of Object.entries(value)) out[childKey] = redactConfig(child, childKey);
    return out;
  }
  return value;
}
