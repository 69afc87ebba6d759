import type { z } from 'zod';

/** Renders a zod path as the manifest's own notation: inputs[0].sha256.arm64 */
export function formatFieldPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`))
    .join('') || '(manifest)';
}

export interface FieldProblem {
  field: string;
  expected: string;
}

/**
 * A manifest that does not validate. The message names the file and every field at fault,
 * so a contributor can fix it without reading builder code.
 */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  constructor(
    readonly file: string,
    readonly problems: FieldProblem[],
  ) {
    super(`${file}: invalid extension manifest\n${problems.map((p) => `  - ${p.field}: expected ${p.expected}`).join('\n')}`);
  }

  static fromZod(file: string, error: z.ZodError): ManifestError {
    return new ManifestError(
      file,
      error.issues.map((issue) => ({ field: formatFieldPath(issue.path), expected: describeExpectation(issue) })),
    );
  }
}

function describeExpectation(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `no unknown fields (remove ${issue.keys.map((k) => `"${k}"`).join(', ')})`;
  if (issue.code === 'invalid_type' && issue.input === undefined) return `a value (required ${issue.expected} is missing)`;
  // A record key that fails its pattern: zod's own message is only "Invalid key in record"; the pattern's says what a key must be.
  if (issue.code === 'invalid_key') return `a key that is ${issue.issues.map((inner) => describeExpectation(inner)).join('; ')}`;
  return issue.message.replace(/^Invalid input: expected /, '');
}
