/** The pool's figures as Prometheus exposes them, and its scale-ups and scale-downs logged at debug. */
import { WorkerPool } from '../../src/pool/pool.js';
import { createPrometheusMetrics } from '../../src/admin/prometheus.js';
import { captureLogs } from '../helpers/logs.js';
import { BASE, held } from '../helpers/pool.js';

function value(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

describe('worker pool metrics and logs', () => {
  it('exports live workers, queue depth, running tasks, outcome counters and the latency histogram', async () => {
    const metrics = createPrometheusMetrics({ defaultMetrics: false });
    const pool = new WorkerPool({
      ...BASE,
      min: 0,
      max: 1,
      queue: 1,
      taskTimeout: 50,
      onSettle: (_outcome, seconds) => metrics.poolTaskSettled(seconds),
    });
    metrics.watchPool(() => {
      const s = pool.stats();
      return { ...s, running: s.busy };
    });
    const h = held();
    const running = pool.submit(h.task);
    const queued = pool.submit(async () => 'second');
    const refused = pool.submit(async () => 'third').catch((err: unknown) => err);
    let text = await metrics.render();
    expect(value(text, 'portico_pool_workers')).toBe(1);
    expect(value(text, 'portico_pool_tasks_running')).toBe(1);
    expect(value(text, 'portico_pool_queue_depth')).toBe(1);
    expect(value(text, 'portico_pool_tasks_total{outcome="rejected"}')).toBe(1);
    await expect(refused).resolves.toMatchObject({ code: 'PORTICO_QUEUE_FULL' });
    h.gate.resolve();
    await running;
    await queued;
    await pool.submit(() => new Promise(() => undefined)).catch(() => undefined); // times out after 50 ms
    text = await metrics.render();
    expect(value(text, 'portico_pool_tasks_total{outcome="completed"}')).toBe(2);
    expect(value(text, 'portico_pool_tasks_total{outcome="timed_out"}')).toBe(1);
    expect(value(text, 'portico_pool_tasks_total{outcome="failed"}')).toBe(0);
    expect(value(text, 'portico_pool_task_duration_seconds_count')).toBe(3);
    expect(text).toContain('# TYPE portico_pool_tasks_total counter');
    await pool.shutdown(10);
  });

  it('logs scale-ups and scale-downs at debug', async () => {
    const logs = captureLogs<{ level: number; msg: string; workers: number }>('debug');
    const pool = new WorkerPool({ ...BASE, min: 0, max: 2, idleTimeout: 20, logger: logs.logger });
    const a = held();
    const b = held();
    const both = [pool.submit(a.task), pool.submit(b.task)];
    a.gate.resolve();
    b.gate.resolve();
    await Promise.all(both);
    const down = (): number => logs.lines.filter((l) => l.msg === 'worker pool scaled down').length;
    for (let i = 0; i < 100 && down() < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    const scaling = logs.lines.filter((l) => l.msg.startsWith('worker pool scaled'));
    expect(scaling.map((l) => [l.msg, l.workers, l.level])).toEqual([
      ['worker pool scaled up', 1, 20],
      ['worker pool scaled up', 2, 20],
      ['worker pool scaled down', 1, 20],
      ['worker pool scaled down', 0, 20],
    ]);
    await pool.shutdown(10);
  });
});
