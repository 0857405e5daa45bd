// Preloaded (`node --require`) into a soaked process: once a second appends one JSON line to $BENCH_PROBE_FILE
// with RSS, heap, the event-loop delay of that second and the active handles by type. Loads nothing that
// OpenTelemetry instruments, so it does not change what the process under test patches.
'use strict';
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { appendFileSync } = require('node:fs');

const file = process.env.BENCH_PROBE_FILE;
if (file) {
  const RESOLUTION_MS = 10;
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  // The histogram records the whole gap between its timer's ticks; the delay is what exceeds the resolution.
  const ms = (ns) => Number(Math.max(0, ns / 1e6 - RESOLUTION_MS).toFixed(2));
  setInterval(() => {
    const handles = {};
    for (const kind of process.getActiveResourcesInfo()) handles[kind] = (handles[kind] ?? 0) + 1;
    const memory = process.memoryUsage();
    const line = {
      t: Date.now(),
      rssMb: Number((memory.rss / 2 ** 20).toFixed(1)),
      heapUsedMb: Number((memory.heapUsed / 2 ** 20).toFixed(1)),
      eldP50Ms: ms(histogram.percentile(50)),
      eldP99Ms: ms(histogram.percentile(99)),
      eldMaxMs: ms(histogram.max),
      handles,
    };
    histogram.reset();
    appendFileSync(file, JSON.stringify(line) + '\n');
  }, 1000).unref();
}
