// autocannon in its own process (so it can be pinned beside the upstream), used when wrk is not installed.
// Usage: node autocannon.mjs JSON, JSON = {"url","connections","duration"[,"overallRate"][,"randomPath":{"prefix","count"}]
// [,"clientHeader"]} → one JSON line.
import autocannon from 'autocannon';

const options = JSON.parse(process.argv[2]);
let numbered = 0;
const randomPath = ({ prefix, count }) => `${prefix}${1 + Math.floor(Math.random() * count)}`;
const result = await autocannon({
  url: options.url,
  connections: options.connections,
  duration: options.duration,
  pipelining: 1,
  headers: options.headers ?? {},
  ...(options.overallRate ? { overallRate: options.overallRate } : {}),
  ...(options.randomPath
    ? { requests: [{ setupRequest: (req) => ({ ...req, path: randomPath(options.randomPath) }) }] }
    : {}),
  ...(options.clientHeader
    ? {
        requests: [
          {
            setupRequest: (req) => ({
              ...req,
              headers: { ...req.headers, [options.clientHeader]: String(++numbered) },
            }),
          },
        ],
      }
    : {}),
});
process.stdout.write(
  JSON.stringify({
    requests: result.requests.total,
    seconds: result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    p999Ms: result.latency.p99_9,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  }) + '\n',
);
