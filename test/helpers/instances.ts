/**
 * Several Portico instances on one config, each with stores of its own (as separate processes would have): the
 * setup of the tests that check what instances share through Redis (exact limits, the user cache).
 */
import type { Config } from '../../src/config/schema.js';
import { startPortico, type Portico } from '../../src/main.js';
import { createStores, type Stores } from '../../src/stores/stores.js';
import { silentLogger } from './portico.js';

export interface Instance {
  readonly portico: Portico;
  readonly stores: Stores;
}

export interface Instances {
  readonly list: readonly Instance[];
  /** Instance `i` modulo the count, to spread requests over them by turns. */
  portico(i: number): Portico;
  /** Shuts every instance down, then closes its stores. */
  close(): Promise<void>;
}

/** Starts `count` instances one after the other; those already started are closed if one fails. */
export async function startInstances(config: Config, count: number): Promise<Instances> {
  const list: Instance[] = [];
  const close = async (): Promise<void> => {
    for (const { portico, stores } of list.splice(0)) {
      await portico.shutdown();
      await stores.close();
    }
  };
  try {
    for (let i = 0; i < count; i++) {
      const stores = await createStores(config.redis, silentLogger);
      try {
        list.push({ stores, portico: await startPortico({ config, logger: silentLogger, stores }) });
      } catch (err) {
        await stores.close();
        throw err;
      }
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { list, portico: (i) => list[i % list.length]?.portico as Portico, close };
}
