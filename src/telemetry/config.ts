import { z } from 'zod';
import { duration } from '../config/duration.js';

export const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** A pino redaction path: `req.headers.x-api-key` is written `req.headers["x-api-key"]`; `*` matches one level. */
const redactPath = z
  .string()
  .regex(/^(?:[A-Za-z_$][\w$]*|\*)(?:\.(?:[A-Za-z_$][\w$]*|\*)|\[(?:"[^"]+"|'[^']+'|\d+|\*)\])*$/, {
    message: 'must be a redaction path such as req.headers["x-api-key"] or body.password',
  });

/** `telemetry`: process logs, request logs (the `logging` kind reads its defaults here) and traces. */
export const telemetrySchema = z
  .strictObject({
    serviceName: z.string().min(1).default('portico').describe('`service.name` on spans and log lines.'),
    resourceAttributes: z
      .record(z.string(), z.string())
      .default({})
      .describe('Extra OpenTelemetry resource attributes, e.g. `deployment.environment: prod`.'),
    logs: z
      .strictObject({
        level: logLevel.default('info').describe('Lowest level written.'),
        destination: z.string().min(1).default('stdout').describe('`stdout`, or a file path (appended to).'),
        levelFormat: z
          .enum(['number', 'label'])
          .default('number')
          .describe(
            '`level` as pino writes it and its tools read it (`number`: 30 for info, 50 for error; `pino-pretty --minimumLevel` works), or as a `label` (`"info"`).',
          ),
        redact: z
          .array(redactPath)
          .default([])
          .describe(
            'Extra redaction paths on top of the defaults (authorization, cookie, set-cookie, proxy-authorization).',
          ),
      })
      .prefault({})
      .describe('Process and request logs (JSON lines); the `logging` middleware kind reads its defaults here.'),
    traces: z
      .strictObject({
        exporter: z
          .enum(['none', 'otlp', 'console'])
          .default('none')
          .describe('`otlp` (OTLP/HTTP to `endpoint`), `console`, or `none`.'),
        endpoint: z.string().url().default('http://127.0.0.1:4318/v1/traces').describe('OTLP/HTTP traces endpoint.'),
        protocol: z
          .enum(['http/protobuf', 'http/json'])
          .default('http/protobuf')
          .describe(
            'OTLP/HTTP encoding: `http/protobuf` (the OTLP default; under half the CPU and 40% of the bytes of JSON per span) or `http/json`.',
          ),
        sampleRatio: z
          .number()
          .min(0)
          .max(1)
          .default(1)
          .describe(
            'Parent-based: a sampled (or unsampled) parent decides; requests without one are sampled at this ratio.',
          ),
        headers: z
          .record(
            z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { message: 'must be an HTTP header name' }),
            z.string(),
          )
          .default({})
          .describe(
            'Headers on every export request, e.g. an API key for a vendor collector (`x-api-key: ${OTLP_KEY}`); values are redacted in `/config`.',
          ),
        timeout: duration({ min: 1 })
          .default(10_000)
          .describe(
            'Bound on one OTLP export call; past it the batch is dropped (spans are lost, requests are not affected).',
          ),
      })
      .prefault({})
      .describe('OpenTelemetry traces (the `tracing` middleware kind).'),
  })
  .prefault({})
  .describe(
    'Process logs, request logs and traces. The standard `OTEL_*` variables (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_EXPORTER`, `OTEL_TRACES_SAMPLER`/`_ARG`, `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`/`_HEADERS`/`_PROTOCOL`/`_TIMEOUT`, `OTEL_SDK_DISABLED`) fill the keys this section leaves out; a key in the file takes precedence.',
  );

export type TelemetryConfig = z.output<typeof telemetrySchema>;
export type LogLevel = z.output<typeof logLevel>;
