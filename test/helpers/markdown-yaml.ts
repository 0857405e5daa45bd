/**
 * The YAML examples of the project's READMEs (README.md, deploy/README.md, every README.md under src/), as tests
 * read them. A block is a Portico config file unless the line right above its fence marks it:
 *
 *   <!-- fragment: why -->          not a whole Portico config (a part of one, or another tool's file): the test
 *                                   only parses it as YAML
 *   <!-- env: NAME=value … -->      a whole config whose `${NAME}` references have no default: the check runs
 *                                   with these variables set
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export const ROOT = join(__dirname, '..', '..');

export interface YamlBlock {
  /** `README.md:53`: the file and the line of the opening fence. */
  readonly where: string;
  readonly text: string;
  readonly fragment: boolean;
  readonly env: Readonly<Record<string, string>>;
}

export function readmeFiles(): string[] {
  const nested = readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file === 'README.md' || file.endsWith('/README.md'))
    .map((file) => join('src', file));
  return ['README.md', 'deploy/README.md', ...nested.sort()];
}

function marker(line: string | undefined): { fragment: boolean; env: Record<string, string> } {
  const env: Record<string, string> = {};
  const comment = /^<!--\s*(fragment|env)\b:?(.*?)-->\s*$/.exec(line?.trim() ?? '');
  if (comment?.[1] === 'fragment') return { fragment: true, env };
  if (comment?.[1] === 'env') {
    for (const pair of (comment[2] ?? '').trim().split(/\s+/)) {
      const eq = pair.indexOf('=');
      if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return { fragment: false, env };
}

export function yamlBlocks(file: string): YamlBlock[] {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const blocks: YamlBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```ya?ml\s*$/.test(lines[i] as string)) continue;
    const end = lines.findIndex((line, j) => j > i && line.startsWith('```'));
    if (end === -1) throw new Error(`${file}:${i + 1}: unclosed code block`);
    blocks.push({
      where: `${relative(ROOT, join(ROOT, file))}:${i + 1}`,
      text: `${lines.slice(i + 1, end).join('\n')}\n`,
      ...marker(lines[i - 1]),
    });
    i = end;
  }
  return blocks;
}

export function allYamlBlocks(): YamlBlock[] {
  return readmeFiles().flatMap(yamlBlocks);
}
