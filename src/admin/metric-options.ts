import type { Registry, RegistryContentType } from 'prom-client';
import type { MetricDefinition } from '../telemetry/metric-catalogue.js';

/** prom-client's options for a catalogue entry (src/telemetry/metric-catalogue.ts), registered in `registry`. */
export const metricOptions = (definition: MetricDefinition, registry: Registry<RegistryContentType>) => ({
  name: definition.name,
  help: definition.help,
  labelNames: definition.labelNames,
  registers: [registry],
});
