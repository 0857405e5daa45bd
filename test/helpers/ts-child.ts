/**
 * For tests that must run Portico code in a plain child process (signals, process exit, require hooks that jest's
 * module loader bypasses): a require hook that compiles src/*.ts on load and maps the `.js` of relative imports to
 * `.ts`, as ts-jest does for tests. No build step, no type check (the test run type-checks).
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const HOOK = `
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const ts = require(${JSON.stringify(require.resolve('typescript'))});
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (parent && parent.filename && parent.filename.endsWith('.ts') && request.startsWith('.') && request.endsWith('.js')) {
    const candidate = path.resolve(path.dirname(parent.filename), request.slice(0, -3) + '.ts');
    if (fs.existsSync(candidate)) return candidate;
  }
  return resolveFilename.call(this, request, parent, ...rest);
};
require.extensions['.ts'] = (module, filename) => {
  const options = { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true };
  module._compile(ts.transpileModule(fs.readFileSync(filename, 'utf8'), { compilerOptions: options, fileName: filename }).outputText, filename);
};
`;

/**
 * Writes `child.js` into `dir`: the hook, then `body`. In `body`, `src(path)` is the absolute path of a file under
 * src/ and `dep(name)` the resolved path of a dependency (the child lives outside the repository).
 */
export function writeTsChild(dir: string, body: string): string {
  const file = join(dir, 'child.js');
  const src = JSON.stringify(join(__dirname, '../../src'));
  const deps = JSON.stringify({ pino: require.resolve('pino') });
  writeFileSync(
    file,
    `${HOOK}\nconst src = (p) => require('node:path').join(${src}, p);\nconst dep = (name) => (${deps})[name];\n${body}`,
  );
  return file;
}

/** The child's next IPC message; rejects if it exits first. */
export function nextMessage<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`child exited with ${code} before answering`));
    child.once('exit', onExit);
    child.once('message', (message) => {
      child.off('exit', onExit);
      resolvePromise(message as T);
    });
  });
}
