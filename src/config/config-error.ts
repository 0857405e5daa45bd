/**
 * Config errors name file, line, column and key path for every problem found, so one run of `portico check`
 * shows them all. Lines and columns are 1-based, as editors show them.
 */
import { PorticoError } from '../errors.js';

export interface ConfigIssue {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** Dotted key path with array indices, e.g. `routes[0].upstream`; empty for file-level problems. */
  readonly path: string;
  readonly message: string;
}

export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = `${issue.file}:${issue.line}:${issue.col}`;
  return issue.path === '' ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

export class ConfigError extends PorticoError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], options: { cause?: unknown } = {}) {
    super('PORTICO_CONFIG_INVALID', issues.map(formatIssue).join('\n'), {
      ...options,
      context: { file: issues[0]?.file, issues: issues.length },
    });
    this.name = 'ConfigError';
    this.issues = issues;
  }
}
