/**
 * The README's metric table, generated from the metric catalogue (./metric-catalogue.ts) and written between the
 * `metric-reference` markers by `npm run docs`, as the config reference is (src/config/reference.ts); a unit test
 * fails when the README is out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { METRICS, STANDARD_PREFIXES, type MetricDefinition } from './metric-catalogue.js';

export const METRIC_START = '<!-- metric-reference:start -->';
export const METRIC_END = '<!-- metric-reference:end -->';

const cell = (text: string): string => text.replaceAll('|', '\\|');

/** The generated markdown, without the markers. */
export function metricReference(definitions: readonly MetricDefinition[] = Object.values(METRICS)): string {
  const lines = [
    'Generated from `src/telemetry/metric-catalogue.ts` by `npm run docs` (do not edit by hand).',
    '',
    '| metric | type | labels | description |',
    '| --- | --- | --- | --- |',
  ];
  for (const metric of definitions) {
    const labels = metric.labelNames.map((label) => `\`${label}\``).join(', ');
    lines.push(`| \`${metric.name}\` | ${metric.type} | ${labels} | ${cell(metric.help)} |`);
  }
  const standard = STANDARD_PREFIXES.map((prefix) => `\`${prefix}*\``).join(' and ');
  lines.push(
    `| ${standard} | | | prom-client's default process and Node.js metrics, under their standard names (\`process_cpu_seconds_total\`, \`nodejs_eventloop_lag_seconds\`, …) |`,
  );
  return lines.join('\n');
}

/** `readme` with the text between the markers replaced by `reference`; throws when the markers are missing. */
export function replaceMetricReference(readme: string, reference: string): string {
  const start = readme.indexOf(METRIC_START);
  const end = readme.indexOf(METRIC_END);
  if (start === -1 || end < start) throw new Error(`README has no ${METRIC_START} … ${METRIC_END} block`);
  return `${readme.slice(0, start + METRIC_START.length)}\n${reference}\n${readme.slice(end)}`;
}

/** `node dist/telemetry/metric-reference.js [README.md]`: rewrites the block in place. */
if (require.main === module) {
  const file = process.argv[2] ?? 'README.md';
  writeFileSync(file, replaceMetricReference(readFileSync(file, 'utf8'), metricReference()));
}
