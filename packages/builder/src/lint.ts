import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { BuildPlan } from './plan.js';
import { formatMode, type TreeEntry } from './tree.js';

export interface LintProblem {
  rule: 'outside-usr-opt' | 'extension-release' | 'exec-missing' | 'world-writable' | 'setuid' | 'file-type';
  path?: string;
  message: string;
}

const EXEC_DIRECTIVE = /^ExecStart\s*=\s*(.*)$/;
/** systemd's own tools: every host that can merge an image has them, so a unit may run them without the image shipping them. */
const SYSTEMD_TOOLS = new Set(['/usr/bin/systemctl', '/usr/bin/systemd-sysusers', '/usr/bin/systemd-tmpfiles']);
const RELEASE_DIR = '/usr/lib/extension-release.d';

/** Checks a staged tree against the rules an image must meet. Every problem is an error. */
export async function lintTree(plan: BuildPlan, root: string, tree: readonly TreeEntry[]): Promise<LintProblem[]> {
  const problems: LintProblem[] = [];
  const byPath = new Map(tree.map((e) => [e.path, e]));
  const declaredModes = new Map(plan.inputs.flatMap((i) => i.extract.filter((r) => r.mode !== undefined).map((r) => [r.to, r.mode])));

  for (const entry of tree) {
    const top = entry.path.split('/')[1];
    if (top !== 'usr' && top !== 'opt')
      problems.push({ rule: 'outside-usr-opt', path: entry.path, message: `${entry.path}: systemd-sysext merges only /usr and /opt; move it there` });
    if (entry.type === 'other') problems.push({ rule: 'file-type', path: entry.path, message: `${entry.path}: not a file, directory or symlink` });
    if (entry.type !== 'symlink' && entry.mode & 0o002)
      problems.push({ rule: 'world-writable', path: entry.path, message: `${entry.path}: world-writable (mode ${formatMode(entry.mode)})` });
    if (entry.type === 'file' && entry.mode & 0o6000 && declaredModes.get(entry.path) !== entry.mode)
      problems.push({ rule: 'setuid', path: entry.path, message: `${entry.path}: setuid/setgid (mode ${formatMode(entry.mode)}) without a declared mode in "extract"` });
  }

  problems.push(...lintExtensionRelease(plan, tree));
  problems.push(...(await lintExecStart(root, tree, byPath)));
  return problems;
}

function lintExtensionRelease(plan: BuildPlan, tree: readonly TreeEntry[]): LintProblem[] {
  const expected = `${RELEASE_DIR}/extension-release.${plan.name}`;
  const releases = tree.filter((e) => path.posix.dirname(e.path) === RELEASE_DIR).map((e) => e.path);
  const problems: LintProblem[] = [];
  if (!releases.includes(expected))
    problems.push({ rule: 'extension-release', path: expected, message: `${expected} is missing: systemd refuses an image whose extension-release name differs from the image name "${plan.name}"` });
  for (const other of releases.filter((p) => p !== expected))
    problems.push({ rule: 'extension-release', path: other, message: `${other}: only extension-release.${plan.name} may be present (image name "${plan.name}")` });
  return problems;
}

/** A unit whose ExecStart= binary is missing fails only on a host, after boot; catch it at build time. */
async function lintExecStart(root: string, tree: readonly TreeEntry[], byPath: Map<string, TreeEntry>): Promise<LintProblem[]> {
  const units = tree.filter((e) => e.type === 'file' && /^\/usr\/lib\/systemd\/(system|user)\/[^/]+(\.service|\.service\.d\/[^/]+\.conf)$/.test(e.path));
  const problems: LintProblem[] = [];
  for (const unit of units) {
    const text = await readFile(path.join(root, unit.path), 'utf8');
    for (const line of text.split('\n')) {
      const command = EXEC_DIRECTIVE.exec(line.trim())?.[1];
      if (!command) continue;
      const binary = command.replace(/^[-@:+!]+/, '').split(/\s+/)[0] ?? '';
      if (!binary.startsWith('/'))
        problems.push({ rule: 'exec-missing', path: unit.path, message: `${unit.path}: ExecStart=${binary} must be an absolute path to a binary in the image` });
      else if (!SYSTEMD_TOOLS.has(binary) && !resolvesToFile(binary, byPath))
        problems.push({ rule: 'exec-missing', path: unit.path, message: `${unit.path}: ExecStart= runs ${binary}, which the image does not contain` });
    }
  }
  return problems;
}

function resolvesToFile(imagePath: string, byPath: Map<string, TreeEntry>, depth = 0): boolean {
  const entry = byPath.get(imagePath);
  if (!entry || depth > 16) return false;
  if (entry.type !== 'symlink') return entry.type === 'file' && (entry.mode & 0o111) !== 0;
  const target = entry.target ?? '';
  return resolvesToFile(path.posix.resolve(path.posix.dirname(imagePath), target), byPath, depth + 1);
}
