import { execa } from 'execa';
import tar from 'tar-stream';
import { requireTool } from '../tools.js';
import { DebExtractionError } from './errors.js';

/** One path a .deb installs, as its data archive records it. */
export interface DebPath {
  /** Absolute, e.g. /usr/bin/htop */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  target?: string;
}

/** The paths a .deb installs, read from its data archive with the real `dpkg-deb --fsys-tarfile`. */
export async function listDebPaths(debFile: string): Promise<DebPath[]> {
  await requireTool('dpkg-deb');
  const dpkg = execa('dpkg-deb', ['--fsys-tarfile', debFile], { encoding: 'buffer', stripFinalNewline: false, env: { LC_ALL: 'C' }, stderr: 'pipe' });
  const paths: DebPath[] = [];
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const name = header.name.replace(/^\.?\/*/, '/').replace(/\/+$/, '');
    const type = header.type === 'file' ? 'file' : header.type === 'directory' ? 'dir' : header.type === 'symlink' ? 'symlink' : 'other';
    if (name !== '/') paths.push({ path: name, type, mode: header.mode ?? 0, ...(header.linkname && type === 'symlink' ? { target: header.linkname } : {}) });
    stream.on('end', next);
    stream.resume();
  });
  dpkg.stdout!.pipe(extract);
  const [result] = await Promise.all([dpkg.catch((error: { stderr?: Buffer }) => error), new Promise<void>((resolve, reject) => extract.on('finish', () => resolve()).on('error', reject))]);
  if (result instanceof Error)
    throw new DebExtractionError(debFile, `Cannot list ${debFile}; dpkg-deb said:\n${(result as { stderr?: Buffer }).stderr?.toString().trim() ?? result.message}\nA truncated or corrupted download causes this: fetch the .deb again (its sha256 pin is in the lock).`);
  return paths;
}
