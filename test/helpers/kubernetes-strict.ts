/**
 * Unknown fields in Kubernetes manifests, found offline: the OpenAPI schema lets any extra field through (as
 * `kubectl apply` without server-side field validation would, silently dropping it), so each manifest is also
 * type-checked as an object literal against the kubernetes-models type of its kind, where TypeScript's
 * excess-property check names every field the API does not have (what `kubeconform -strict` does).
 */
import { join } from 'node:path';
import ts from 'typescript';
import { ROOT } from './deploy.js';

/** Diagnostics, one per problem, for the manifests in order (`[index] message`). */
export function unknownFields(manifests: ReadonlyArray<{ apiVersion: string; kind: string }>): string[] {
  // An ES module (.mts) beside the tests, so the package's ES-module types resolve; it exists only in memory.
  const file = join(ROOT, 'test', '.kubernetes-manifests.mts');
  const source = manifests
    .map(
      (m, i) =>
        `import type { I${m.kind} as T${i} } from 'kubernetes-models/${m.apiVersion}/${m.kind}';\nexport const m${i}: T${i} = ${JSON.stringify(m)};`,
    )
    .join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.Node16,
    moduleResolution: ts.ModuleResolutionKind.Node16,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (name, language, ...rest) =>
    name === file ? ts.createSourceFile(name, source, language) : getSourceFile(name, language, ...rest);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const line =
      diagnostic.file && diagnostic.start !== undefined
        ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line
        : -1;
    return `[${Math.floor(line / 2)}] ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`;
  });
}
