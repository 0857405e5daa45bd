/**
 * prom-client, as src/admin/request-metrics.ts uses it: a hand-made object registered as a metric.
 */
import { Registry, type Metric } from 'prom-client';
import { assumption, recordingReads } from './support';

assumption(
  'a Registry accepts any object with name, help, type, aggregator, get() and reset(), reads nothing else of it, and prints the `values` get() returns by their `metricName`',
  'src/admin/request-metrics.ts registerRequestMetrics(): the request-duration histogram is such an object, filled from plain arrays at scrape time',
  async () => {
    let resets = 0;
    const histogram = recordingReads({
      name: 'contract_seconds',
      help: 'a hand-made histogram',
      type: 'histogram',
      aggregator: 'sum',
      get: () =>
        Promise.resolve({
          name: 'contract_seconds',
          help: 'a hand-made histogram',
          type: 'histogram',
          aggregator: 'sum',
          values: [
            { labels: { le: 0.1, route: 'r' }, value: 1, metricName: 'contract_seconds_bucket' },
            { labels: { le: '+Inf', route: 'r' }, value: 2, metricName: 'contract_seconds_bucket' },
            { labels: { route: 'r' }, value: 0.3, metricName: 'contract_seconds_sum' },
            { labels: { route: 'r' }, value: 2, metricName: 'contract_seconds_count' },
          ],
        }),
      reset: () => {
        resets++;
      },
    });
    const registry = new Registry();
    registry.registerMetric(histogram.proxy as unknown as Metric);
    const text = await registry.metrics();
    expect(text).toBe(
      [
        '# HELP contract_seconds a hand-made histogram',
        '# TYPE contract_seconds histogram',
        'contract_seconds_bucket{le="0.1",route="r"} 1',
        'contract_seconds_bucket{le="+Inf",route="r"} 2',
        'contract_seconds_sum{route="r"} 0.3',
        'contract_seconds_count{route="r"} 2',
        '',
      ].join('\n'),
    );
    registry.resetMetrics();
    expect(resets).toBe(1);
    // `getForPromString` is probed and, when absent, get() is used for the text format.
    const surface = new Set<PropertyKey>(['name', 'help', 'type', 'aggregator', 'get', 'reset', 'getForPromString']);
    expect([...histogram.reads].filter((key) => !surface.has(key))).toEqual([]);
  },
);
