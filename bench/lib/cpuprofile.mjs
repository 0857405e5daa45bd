// Reads a V8 .cpuprofile (node --cpu-prof) and ranks self time by function and by package, the view that says
// where a request's CPU goes.
import { readFileSync } from 'node:fs';

/** Self time in ms per node id, from the sample list and its time deltas. */
function selfTimes(profile) {
  const self = new Map();
  const { samples = [], timeDeltas = [] } = profile;
  for (let i = 0; i < samples.length; i++) {
    const delta = timeDeltas[i + 1] ?? 0; // a sample's duration is the gap to the next one
    self.set(samples[i], (self.get(samples[i]) ?? 0) + delta / 1000);
  }
  return self;
}

/** `express`, `@opentelemetry/sdk-trace`, `portico:src/plan/chain.ts`, `node:internal/...` or `(program)`. */
export function packageOf(url) {
  if (!url) return '(native / vm)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return url.startsWith('node:internal/') ? `node:${url.split('/')[1]}` : url;
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return `portico:${url.slice(dist + 1)}`;
  return url.replace(/^file:\/\//, '');
}

export function summarizeProfile(file, top = 25) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const self = selfTimes(profile);
  const byFunction = new Map();
  const byPackage = new Map();
  for (const node of profile.nodes) {
    const ms = self.get(node.id) ?? 0;
    if (ms === 0 || node.callFrame.functionName === '(idle)') continue; // busy time only
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${packageOf(url)}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + ms);
    const pkg = url ? packageOf(url) : functionName.startsWith('(') ? functionName : '(native / vm)';
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + ms);
  }
  const total = [...byPackage.values()].reduce((a, b) => a + b, 0);
  const rank = (map) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ name, ms: Number(ms.toFixed(1)), pct: Number(((100 * ms) / total).toFixed(1)) }));
  return { totalMs: Number(total.toFixed(1)), functions: rank(byFunction), packages: rank(byPackage) };
}

/** `requests`: how many the process served while profiled, to show each entry as microseconds per request. */
export function profileText(summary, requests) {
  const perReq = (ms) => (requests ? `${((ms * 1000) / requests).toFixed(1).padStart(6)} us/req  ` : '');
  const lines = (list) =>
    list
      .map((e) => `  ${e.pct.toFixed(1).padStart(5)}%  ${e.ms.toFixed(0).padStart(7)} ms  ${perReq(e.ms)}${e.name}`)
      .join('\n');
  const head = `self time, % of ${summary.totalMs.toFixed(0)} ms busy (idle excluded; the whole process life, start-up and warm-up included)`;
  return `${head}\nby function:\n${lines(summary.functions)}\nby package:\n${lines(summary.packages)}`;
}
