/**
 * `${VAR}` and `${VAR:-default}` in string values, resolved after YAML parsing (so a variable's content can never
 * change the document's structure). `$${` escapes a literal `${`. A plain (unquoted) scalar that is one whole
 * reference and resolves to a number or boolean becomes that type, so `limit: ${LIMIT:-100}` is a number.
 */
const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export type Env = Readonly<Record<string, string | undefined>>;

export interface Interpolated {
  readonly value: string;
  /** Variables referenced without a default and not set. */
  readonly missing: readonly string[];
}

export function interpolate(text: string, env: Env): Interpolated {
  if (!text.includes('${')) return { value: text, missing: [] };
  const missing: string[] = [];
  const value = text.replace(REFERENCE, (whole, name: string | undefined, fallback: string | undefined) => {
    if (whole === '$${') return '${';
    const set = env[name as string];
    if (set !== undefined && set !== '') return set;
    if (fallback !== undefined) return fallback;
    if (set === undefined) missing.push(name as string);
    return '';
  });
  return { value, missing };
}

/** The typed value of a whole-reference plain scalar: `8080` → 8080, `true` → true, anything else stays text. */
export function retype(value: string): string | number | boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  return value;
}
