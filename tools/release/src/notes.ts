import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import type { Outcome } from './pipeline.js';

/** A pending changeset: the packages it releases and what it says. */
export interface PendingChangeset {
  file: string;
  packages: Record<string, string>;
  summary: string;
}

/** The changesets in .changeset/ that `changeset version` has not consumed yet, by file name. */
export async function pendingChangesets(root: string): Promise<PendingChangeset[]> {
  const dir = path.join(root, '.changeset');
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.md') && f !== 'README.md').sort();
  const changesets: PendingChangeset[] = [];
  for (const file of files) {
    const text = await readFile(path.join(dir, file), 'utf8');
    const [, front, body] = /^---\n([\s\S]*?)\n---\n([\s\S]*)$/.exec(text) ?? [];
    if (front === undefined) continue;
    changesets.push({ file, packages: (parse(front) ?? {}) as Record<string, string>, summary: (body ?? '').trim() });
  }
  return changesets;
}

/**
 * Release notes for what was published: per extension, the images and the changesets that
 * name it. No date or run id, so the same release writes the same notes.
 */
export async function collectNotes(options: { root: string; file: string; published: readonly Outcome[]; flatcar: Record<string, string> }): Promise<void> {
  const changesets = await pendingChangesets(options.root);
  const names = [...new Set(options.published.map((o) => o.extension))].sort();
  const sections = names.map((name) => {
    const images = options.published
      .filter((o) => o.extension === name)
      .flatMap((o) => o.images.map((image) => `- \`${image}\` (${o.channel})`));
    const changes = changesets.filter((c) => name in c.packages).map((c) => `- ${c.summary.replaceAll('\n\n', '\n  ').replaceAll('\n', '\n  ')}`);
    return `## ${name}\n\n${images.join('\n')}\n${changes.length ? `\n${changes.join('\n')}\n` : ''}`;
  });
  const flatcar = Object.entries(options.flatcar).map(([channel, version]) => `${channel} ${version}`);
  const text = `# Release notes\n\nFlatcar: ${flatcar.join(', ') || 'unresolved'}\n\n${sections.join('\n')}`;
  await mkdir(path.dirname(options.file), { recursive: true });
  const temp = `${options.file}.tmp-${process.pid}`;
  await writeFile(temp, text);
  await rename(temp, options.file);
}
