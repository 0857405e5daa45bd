/**
 * The instrumentation scope of every span Portico makes by hand: `portico` and the version in package.json (two
 * folders up, beside src/ in the repository and beside dist/ in the image), so a backend can tell which Portico
 * made a span.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const TRACER_NAME = 'portico';
export const TRACER_VERSION: string = (
  JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
).version;
