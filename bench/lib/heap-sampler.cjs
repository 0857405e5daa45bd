// Preloaded (`node --require`) into a target by bench/alloc.mjs: the first SIGUSR2 starts V8's sampling heap
// profiler, the second stops it and writes the profile to BENCH_HEAP_OUT. Objects that garbage collection has
// already freed are kept in the profile (the include* flags): a request's garbage is what is being counted, and
// without them a profile shows only what survived.
'use strict';
const inspector = require('node:inspector');
const { writeFileSync } = require('node:fs');

const out = process.env.BENCH_HEAP_OUT;
if (out) {
  const session = new inspector.Session();
  session.connect();
  let sampling = false;
  process.on('SIGUSR2', () => {
    if (!sampling) {
      sampling = true;
      session.post('HeapProfiler.enable', () =>
        session.post('HeapProfiler.startSampling', {
          samplingInterval: 4096,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        }),
      );
      return;
    }
    session.post('HeapProfiler.stopSampling', (err, result) => {
      writeFileSync(out, err ? JSON.stringify({ error: String(err) }) : JSON.stringify(result.profile));
    });
  });
}
