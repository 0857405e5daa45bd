import { z } from 'zod';

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

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
        redact: z.array(z.string().min(1)).default([]),
      })
      .prefault({}),
    traces: z
      .strictObject({
        exporter: z.enum(['none', 'otlp', 'console']).default('none'),
        endpoint: z.string().url().default('http://127.0.0.1:4318/v1/traces'),
        sampleRatio: z.number().min(0).max(1).default(1),
      })
      .prefault({}),
  })
  .prefault({});

export type TelemetryConfig = z.output<typeof telemetrySchema>;
export type LogLevel = z.output<typeof logLevel>;
