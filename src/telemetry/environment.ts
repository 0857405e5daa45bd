/**
 * The standard OpenTelemetry SDK environment variables, read into the `telemetry` section where the file leaves a
 * key out: the file takes precedence, a variable fills only what it does not say (and `resourceAttributes` are
 * merged, the file's keys winning). Applied by the loader to the document before validation, so a bad value is
 * reported like a bad key.
 *
 * Read: OTEL_SDK_DISABLED, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_EXPORTER, OTEL_TRACES_SAMPLER and
 * OTEL_TRACES_SAMPLER_ARG, OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS, _PROTOCOL, _TIMEOUT. Sampling in Portico
 * is always parent-based: `always_on`, `always_off` and `traceidratio` (with or without `parentbased_`) set the
 * ratio for requests that arrive without a parent.
 */
type Json = Record<string, unknown>;
type Env = Readonly<Record<string, string | undefined>>;

const isObject = (value: unknown): value is Json =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** `key1=value1,key2=value2` with percent-encoded values (the W3C Baggage form the spec uses for both lists). */
export function parseKeyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      // kept as written: a stray % is not worth refusing the whole list for
    }
    if (key !== '') out[key] = value;
  }
  return out;
}

function ratio(sampler: string, arg: string | undefined): number | string | undefined {
  const name = sampler.replace(/^parentbased_/, '');
  if (name === 'always_on') return 1;
  if (name === 'always_off') return 0;
  if (name === 'traceidratio') return arg === undefined ? 1 : Number(arg);
  return undefined;
}

const set = (target: Json, key: string, value: unknown): void => {
  if (target[key] === undefined && value !== undefined && value !== '') target[key] = value;
};

function traces(section: Json, env: Env): Json {
  const out: Json = { ...section };
  const sdkDisabled = env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true';
  set(out, 'exporter', sdkDisabled ? 'none' : env.OTEL_TRACES_EXPORTER?.trim());
  const tracesEndpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  set(out, 'endpoint', tracesEndpoint || (base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined));
  set(out, 'protocol', (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL)?.trim());
  const timeout = (env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ?? env.OTEL_EXPORTER_OTLP_TIMEOUT)?.trim();
  set(out, 'timeout', timeout ? Number(timeout) : undefined);
  const headers = env.OTEL_EXPORTER_OTLP_TRACES_HEADERS ?? env.OTEL_EXPORTER_OTLP_HEADERS;
  if (headers !== undefined)
    out.headers = { ...parseKeyValues(headers), ...(isObject(section.headers) ? section.headers : {}) };
  const sampler = env.OTEL_TRACES_SAMPLER?.trim().toLowerCase();
  if (sampler) set(out, 'sampleRatio', ratio(sampler, env.OTEL_TRACES_SAMPLER_ARG?.trim()));
  return out;
}

/** `raw` (the parsed document) with the variables applied to its `telemetry` section; other sections untouched. */
export function withOtelEnvironment(raw: object, env: Env): object {
  if (!isObject(raw)) return raw;
  if (!Object.keys(env).some((name) => name.startsWith('OTEL_'))) return raw;
  const given = raw.telemetry === undefined ? {} : raw.telemetry;
  if (!isObject(given)) return raw; // not a map: validation says so
  const telemetry: Json = { ...given };
  set(telemetry, 'serviceName', env.OTEL_SERVICE_NAME?.trim());
  const resource = env.OTEL_RESOURCE_ATTRIBUTES;
  if (resource !== undefined)
    telemetry.resourceAttributes = {
      ...parseKeyValues(resource),
      ...(isObject(given.resourceAttributes) ? given.resourceAttributes : {}),
    };
  const section = given.traces === undefined ? {} : given.traces;
  if (isObject(section)) telemetry.traces = traces(section, env);
  return { ...raw, telemetry };
}
