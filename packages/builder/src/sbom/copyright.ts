import path from 'node:path';
import { execa } from 'execa';
import tar from 'tar-stream';
import { requireTool } from '../tools.js';
import { DebExtractionError } from '../debian/errors.js';

/** A copyright file is a few kB; a larger one is not what Debian policy means by it. */
const MAX_COPYRIGHT_BYTES = 4 * 1024 * 1024;

/**
 * Each package's `usr/share/doc/PACKAGE/copyright`, read from its own .deb's data (not from the
 * staged tree, where a later package's file would win). A package whose doc directory is a
 * symlink to another package's (as Debian allows within one source, e.g. libgcc-s1 →
 * gcc-14-base) gets that package's file. Packages without one are absent from the map.
 */
export async function readCopyrights(debs: readonly { name: string; file: string }[]): Promise<Map<string, string>> {
  if (!debs.length) return new Map();
  await requireTool('dpkg-deb');
  const found = await Promise.all(debs.map(async ({ name, file }) => ({ name, ...(await readDocEntry(file, name)) })));
  const texts = new Map(found.flatMap((f) => (f.text === undefined ? [] : [[f.name, f.text] as const])));
  for (const { name, linkTo } of found) {
    const target = linkTo === undefined ? undefined : texts.get(linkTo);
    if (target !== undefined && !texts.has(name)) texts.set(name, target);
  }
  return texts;
}

/** The copyright file of `name` in one .deb, or where its doc directory links to. */
async function readDocEntry(debFile: string, name: string): Promise<{ text?: string; linkTo?: string }> {
  const docDir = `usr/share/doc/${name}`;
  const child = execa('dpkg-deb', ['--fsys-tarfile', debFile], { buffer: { stdout: false }, reject: false, env: { LC_ALL: 'C' } });
  const extract = tar.extract();
  child.stdout!.pipe(extract);
  const result: { text?: string; linkTo?: string } = {};
  for await (const entry of extract) {
    const entryPath = path.posix.normalize(entry.header.name).replace(/^\.?\/+/, '').replace(/\/$/, '');
    if (entryPath === `${docDir}/copyright` && entry.header.type === 'file' && (entry.header.size ?? 0) <= MAX_COPYRIGHT_BYTES) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      result.text = Buffer.concat(chunks).toString('utf8');
      continue;
    }
    if (entryPath === docDir && entry.header.type === 'symlink' && entry.header.linkname && !entry.header.linkname.includes('/'))
      result.linkTo = entry.header.linkname;
    entry.resume();
  }
  const { exitCode, stderr } = await child;
  if (exitCode !== 0) throw new DebExtractionError(debFile, `Cannot read ${debFile}; dpkg-deb said:\n${String(stderr).trim()}`);
  return result;
}
