/**
 * Debounced watch of the config file. The directory is watched, not the file: editors and ConfigMap updates
 * replace the file by rename, which ends a watch on the old inode.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export function watchConfigFile(file: string, onChange: () => void, debounceMs = 200): { close(): void } {
  const name = basename(file);
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
      // Kubernetes ConfigMaps swap a `..data` symlink; any change in the folder may be the file's.
      if (changed !== null && changed !== name && !changed.startsWith('..')) return;
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(onChange, debounceMs);
      timer.unref();
    });
    watcher.on('error', () => watcher?.close());
  } catch {
    watcher = undefined; // a folder that cannot be watched leaves SIGHUP as the reload trigger
  }
  return {
    close() {
      if (timer !== undefined) clearTimeout(timer);
      watcher?.close();
    },
  };
}
