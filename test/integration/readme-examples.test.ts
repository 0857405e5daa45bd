/**
 * Every YAML example in the READMEs runs: each block is a Portico config that `portico check` accepts, unless it
 * is marked as a fragment (see test/helpers/markdown-yaml.ts for the markers), and then it must still parse as
 * YAML. A broken example is what a new user copies first.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { cliRunner, type Cli } from '../helpers/cli.js';
import { allYamlBlocks } from '../helpers/markdown-yaml.js';

const blocks = allYamlBlocks();
let cli: Cli;
let dir: string;

beforeAll(() => {
  cli = cliRunner();
  dir = mkdtempSync(join(tmpdir(), 'portico-readme-'));
});
afterAll(() => {
  cli.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the READMEs have YAML examples, and most are whole configs', () => {
  expect(blocks.length).toBeGreaterThanOrEqual(3);
  expect(blocks.filter((block) => !block.fragment).length).toBeGreaterThanOrEqual(2);
});

test('the blocks marked as fragments parse as YAML', () => {
  const errors = blocks
    .filter((block) => block.fragment)
    .flatMap((block) =>
      parseAllDocuments(block.text, { strict: true, uniqueKeys: true }).flatMap((doc) =>
        doc.errors.map((err) => `${block.where}: ${err.message}`),
      ),
    );
  expect(errors).toEqual([]);
});

test.each(blocks.filter((block) => !block.fragment).map((block) => [block.where, block] as const))(
  '%s passes `portico check`',
  async (where, block) => {
    const file = join(dir, `${where.replaceAll(/[/:]/g, '_')}.yaml`);
    writeFileSync(file, block.text);
    const result = await cli.run(['check', '--config', file], block.env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  },
);
