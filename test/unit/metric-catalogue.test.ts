/**
 * The metric catalogue (src/telemetry/metric-catalogue.ts) is the one list of Portico's metrics: a scrape shows
 * exactly its entries (plus the standard process_* / nodejs_* families), with the declared type and help; names
 * follow the Prometheus conventions; the README's table is generated from it; the Grafana dashboard in deploy/
 * queries no name that does not exist.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrometheusMetrics } from '../../src/admin/prometheus.js';
import { METRICS, STANDARD_PREFIXES } from '../../src/telemetry/metric-catalogue.js';
import { metricReference, replaceMetricReference } from '../../src/telemetry/metric-reference.js';

const ROOT = join(__dirname, '../..');
const definitions = Object.values(METRICS);
const catalogued = new Map(definitions.map((metric) => [metric.name, metric]));
const isStandard = (name: string): boolean => STANDARD_PREFIXES.some((prefix) => name.startsWith(prefix));

/** `# TYPE` lines of a scrape: family name to type. */
async function scrapedFamilies(): Promise<Map<string, { type: string; help: string }>> {
  const metrics = createPrometheusMetrics();
  metrics.watchPool(() => ({
    workers: 1,
    queued: 0,
    running: 0,
    completed: 1,
    failed: 0,
    timedOut: 0,
    rejected: 0,
    dropped: 0,
  }));
  metrics.watchTelemetry(() => ({ spans: 2, logLines: 3 }));
  const text = await metrics.render();
  const families = new Map<string, { type: string; help: string }>();
  const helps = new Map<string, string>();
  for (const line of text.split('\n')) {
    const help = /^# HELP (\S+) (.*)$/.exec(line);
    if (help) helps.set(help[1] as string, help[2] as string);
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) families.set(type[1] as string, { type: type[2] as string, help: helps.get(type[1] as string) ?? '' });
  }
  return families;
}

test('a scrape shows every catalogued metric with its type and help, and nothing else but process_* and nodejs_*', async () => {
  const families = await scrapedFamilies();
  for (const metric of definitions) expect(families.get(metric.name)).toEqual({ type: metric.type, help: metric.help });
  const others = [...families.keys()].filter((name) => !catalogued.has(name));
  expect(others.filter((name) => !isStandard(name))).toEqual([]);
  // the standard families are there under their standard names (stock dashboards read them)
  expect(others).toEqual(expect.arrayContaining(['process_cpu_seconds_total', 'nodejs_eventloop_lag_seconds']));
  expect([...families.keys()].filter((name) => name.startsWith('portico_process_'))).toEqual([]);
});

test('names follow the conventions: portico_ prefix, counters and only counters end _total', () => {
  for (const metric of definitions) {
    expect(metric.name).toMatch(/^portico_[a-z0-9_]+$/);
    expect({ name: metric.name, total: metric.name.endsWith('_total') }).toEqual({
      name: metric.name,
      total: metric.type === 'counter',
    });
  }
  expect(new Set(definitions.map((metric) => metric.name)).size).toBe(definitions.length);
});

test('the README metric table is up to date (npm run docs)', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  expect(replaceMetricReference(readme, metricReference())).toBe(readme);
  for (const metric of definitions) expect(readme).toContain(`| \`${metric.name}\` |`);
});

test('every metric the Grafana dashboard queries exists', async () => {
  const dashboard = readFileSync(join(ROOT, 'deploy/grafana/portico.json'), 'utf8');
  const exprs = [...dashboard.matchAll(/"expr": "((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
  expect(exprs.length).toBeGreaterThan(10);
  const families = await scrapedFamilies();
  const queried = new Set(
    exprs.flatMap((expr) => [...expr.matchAll(/\b(?:portico|process|nodejs)_[a-z0-9_]+/g)].map((m) => m[0])),
  );
  const missing = [...queried].filter((name) => {
    const family = name.replace(/_(bucket|sum|count)$/, '');
    const histogram = families.get(family)?.type === 'histogram';
    return !families.has(name) && !(histogram && family !== name);
  });
  expect(missing).toEqual([]);
  // the dashboard covers the new per-route metrics
  for (const name of ['portico_requests_in_flight', 'portico_upstream_response_duration_seconds_bucket'])
    expect(queried).toContain(name);
});
