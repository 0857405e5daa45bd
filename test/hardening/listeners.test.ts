/**
 * Every feature on a route hangs shared listeners on the client response and the upstream request (server edge,
 * client cap, body deadline, tracing, each express entry, the retrying forwarder, the engine's pipe per try). Past
 * EventEmitter's default of 10 per event, Node prints a MaxListenersExceededWarning to stderr for every such
 * response, in production. This route (six express entries, a rate limit, tracing, four tries after three refused
 * connections) stays under it; a feature that adds listeners per try or per request without bound fails here.
 */
import { startTelemetry, type Telemetry } from '../../src/telemetry/bootstrap.js';
import { telemetrySchema } from '../../src/telemetry/config.js';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { closedAfterEach } from '../helpers/fleet.js';
import { pluginFolder, startFromFolder } from '../helpers/express-plugins.js';
import { request } from '../helpers/http.js';
import { sparePort } from '../helpers/ports.js';

const { fleet, track } = closedAfterEach();
let telemetry: Telemetry;
beforeAll(() => {
  telemetry = startTelemetry(telemetrySchema.parse({ traces: { exporter: 'console' } }), {
    exporter: new InMemorySpanExporter(),
    instrumentations: false,
  });
});
afterAll(() => telemetry.shutdown());

it('a response through a route with every feature on prints no MaxListenersExceededWarning', async () => {
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => {
    if (warning.name === 'MaxListenersExceededWarning') warnings.push(warning);
  };
  process.on('warning', onWarning);
  try {
    const [a, b] = await fleet(2);
    // Three refusing upstreams first: a request may take four tries, each through the engine on the same response.
    const dead = await Promise.all([sparePort(), sparePort(), sparePort()]);
    const folder = pluginFolder();
    folder.write(
      [
        'rateLimits:',
        '  api: { key: ip, limit: 1000, window: 1m }',
        'middleware: [tracing]', // logging too adds one; left out to keep the test's output quiet
        'routes:',
        '  - name: api',
        `    upstream: [${dead.map((port) => `http://127.0.0.1:${port}`).join(', ')}, ${a?.url}, ${b?.url}]`,
        '    retry: { attempts: 4, budget: 100% }',
        '    outlierDetection: { consecutiveFailures: 5 }',
        '    middleware:',
        '      - rateLimit: api',
        ...['a', 'b', 'c', 'd', 'e', 'f'].map(
          (name) => `      - express: { use: cors, options: { origin: "https://${name}.example" } }`,
        ),
        '',
      ].join('\n'),
    );
    const p = await startFromFolder(folder);
    track(p);
    for (let i = 0; i < 3; i++) {
      const res = await request(`${p.proxyUrl}/x`, {
        method: 'POST',
        body: 'hello',
        headers: { 'content-type': 'text/plain' },
      });
      expect(res.status).toBe(200);
    }
    // process.emitWarning delivers on the next tick: let it.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(warnings.map((w) => w.message)).toEqual([]);
  } finally {
    process.off('warning', onWarning);
  }
});
