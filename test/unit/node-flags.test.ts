/**
 * Portico's Node flags are written in three places that cannot import one another: the bench's launcher (the
 * figures in the README), `npm start`, and the Dockerfile's entrypoint. They must agree, or the benchmark measures
 * a process users do not run.
 */
import { readRepoFile as read } from '../helpers/deploy.js';

function benchFlags(): string[] {
  const match = /export const PORTICO_NODE_FLAGS = (\[[^\]]*\]);/.exec(read('bench/lib/portico.mjs'));
  expect(match).not.toBeNull();
  return JSON.parse((match?.[1] ?? '[]').replace(/'/g, '"')) as string[];
}

test('the bench, npm start and the image run Portico with the same Node flags', () => {
  const flags = benchFlags();
  expect(flags).toEqual(expect.arrayContaining(['--max-semi-space-size=8', '--heap-growing-percent=50']));
  const invocation = `node ${flags.join(' ')} dist/cli.js serve`;
  const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.start;
  expect(start?.startsWith(invocation)).toBe(true);
  // The image: exec-form ENTRYPOINT (node, the flags, the CLI) and CMD ["serve"].
  const dockerfile = read('Dockerfile');
  const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1] ?? 'null') as string[] | null;
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? 'null') as string[] | null;
  expect([...(entrypoint ?? []), ...(cmd ?? [])].join(' ')).toBe(invocation);
});
