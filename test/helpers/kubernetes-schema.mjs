// Validates Kubernetes manifests against the Kubernetes API's OpenAPI schema, offline: the validators the
// kubernetes-models package compiles from it. Run as a plain Node process (the package is ES modules only, which
// jest's CommonJS loader cannot import): manifests as a JSON array on stdin, one result per manifest on stdout as
// a JSON array of { kind, name, errors }.
import process from 'node:process';
import { text } from 'node:stream/consumers';

/** `apps/v1` + `Deployment` → `kubernetes-models/apps/v1/Deployment`; the core group is `v1`. */
const modulePath = (apiVersion, kind) => `kubernetes-models/${apiVersion}/${kind}`;

const manifests = JSON.parse(await text(process.stdin));
const results = [];
for (const manifest of manifests) {
  const { apiVersion, kind } = manifest;
  const name = manifest.metadata?.name;
  let model;
  try {
    model = (await import(modulePath(apiVersion, kind)))[kind];
  } catch {
    results.push({ kind, name, errors: [`no schema for ${apiVersion} ${kind}`] });
    continue;
  }
  try {
    new model(manifest).validate();
    results.push({ kind, name, errors: [] });
  } catch (err) {
    results.push({ kind, name, errors: String(err.message).split(/,\s*(?=data)/) });
  }
}
process.stdout.write(JSON.stringify(results));
