import type { ExtractRule } from '@bakehouse/schema';
import type { EntryHandler } from './archive-entry.js';
import { ArchiveGuard } from './archive-guard.js';
import { normaliseArchivePath, parentComponents, symlinkEscape } from './archive-paths.js';
import type { TarKind } from './decompress.js';
import { type ArchiveContext, UnsafeArchiveError } from './errors.js';
import { ExtractRules, fileMode } from './extract-rules.js';
import type { StagingArea, Target } from './staging-area.js';
import { readTar } from './tar-reader.js';
import { readZip } from './zip-reader.js';

/** A mapped hard link whose content had not been staged when the link was read. */
interface PendingCopy {
  target: Target;
  mode: number;
}

/**
 * Reads the archive once, validating every entry and staging the mapped ones. Hard links are
 * staged as copies; when a link is mapped but the file it shares content with is not, that
 * content is taken from a second read, so no entry ever has to be held in memory.
 */
export async function stageArchive(
  file: string,
  kind: TarKind | 'zip',
  rules: readonly ExtractRule[],
  staging: StagingArea,
  context: ArchiveContext,
): Promise<void> {
  const read = (onEntry: EntryHandler) => (kind === 'zip' ? readZip(file, context, onEntry) : readTar(kind, file, onEntry));
  const guard = new ArchiveGuard(context);
  const extractRules = new ExtractRules(context, rules);
  /** Archive path of a regular file → image path of its first staged copy. */
  const staged = new Map<string, string>();
  /** Archive path of a regular file that no rule maps → mapped hard links to it. */
  const pending = new Map<string, PendingCopy[]>();

  await read(async (entry) => {
    const admitted = guard.admit(entry);
    if (admitted === undefined) return;
    if (admitted.type === 'directory') return extractRules.checkDirectory(admitted.path);

    for (const placement of extractRules.place(admitted.path)) {
      const target = { imagePath: placement.imagePath, owner: `${extractRules.describe(placement.rule)} for ${JSON.stringify(entry.name)}` };
      if (admitted.type === 'symlink') {
        const escape = symlinkEscape(parentComponents(placement.imagePath), admitted.target, 'the image');
        if (escape) throw new UnsafeArchiveError(context, entry.name, `${escape} once placed at ${placement.imagePath}`);
        await staging.writeSymlink(target, admitted.target);
        continue;
      }
      const mode = fileMode(placement.mode, entry.mode);
      const contentOf = admitted.type === 'file' ? admitted.path : admitted.contentOf;
      const firstCopy = staged.get(contentOf);
      if (firstCopy !== undefined) {
        await staging.copyFile(firstCopy, target, mode);
      } else if (admitted.type === 'file') {
        await staging.writeFile(target, await entry.open(), mode);
        staged.set(contentOf, target.imagePath);
      } else {
        pending.set(contentOf, [...(pending.get(contentOf) ?? []), { target, mode }]);
      }
    }
  });
  extractRules.checkEveryRuleMatched();
  if (pending.size === 0) return;

  await read(async (entry) => {
    const checked = normaliseArchivePath(entry.name);
    const copies = entry.type === 'file' && checked.ok ? pending.get(checked.path) : undefined;
    const [first, ...others] = copies ?? [];
    if (first === undefined) return;
    await staging.writeFile(first.target, await entry.open(), first.mode);
    for (const copy of others) await staging.copyFile(first.target.imagePath, copy.target, copy.mode);
  });
}
