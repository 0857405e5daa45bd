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
    serviceName: z.string().min(1).default('portico'),
    resourceAttributes: z.record(z.string(), z.string()).default({}),
    logs: z
      .strictObject({
        level: logLevel.default('info'),
        /** `stdout`, or a file path (appended to). */
        destination: z.string().min(1).default('stdout'),
        /** Extra redaction paths on top of the defaults (authorization, cookie, set-cookie, proxy-authorization). */
        redact: z.array(redactPath).default([]),
      })
      .prefault({}),
    traces: z
      .strictObject({
        exporter: z.enum(['none', 'otlp', 'console']).default('none'),
        endpoint: z.string().url().default('http://127.0.0.1:4318/v1/traces'),
        /** Parent-based: a sampled (or unsampled) parent decides; requests without one are sampled at this ratio. */
        sampleRatio: z.number().min(0).max(1).default(1),
        /** Bound on one OTLP export call; past it the batch is dropped (spans are lost, requests are not affected). */
        timeout: duration({ min: 1 }).default(10_000),
      })
      .prefault({}),
  })
  .prefault({});

export type TelemetryConfig = z.output<typeof telemetrySchema>;
export type LogLevel = z.output<typeof logLevel>;
