import path from 'node:path';
import type { ExtractRule } from '@bakehouse/schema';
import { normaliseArchivePath } from './archive-paths.js';
import { type ArchiveContext, ExtractError } from './errors.js';

/** Where one archive entry goes in the image, and which rule sent it there. */
export interface Placement {
  rule: number;
  imagePath: string;
  /** The mode the rule declares, if any. */
  mode: number | undefined;
}

interface ParsedRule {
  /** Normalised `from`; for a directory rule, the directory ("" for the whole archive). */
  from: string;
  directory: boolean;
  to: string;
}

/** The input's `extract` rules: which archive entries go where, and whether every rule was used. */
export class ExtractRules {
  private readonly rules: ParsedRule[];
  private readonly matches: number[];

  constructor(
    private readonly context: ArchiveContext,
    private readonly declared: readonly ExtractRule[],
  ) {
    this.rules = declared.map((rule, index) => {
      // The schema guarantees a relative `from` for archive kinds; plans built from unchecked data might not.
      const checked = normaliseArchivePath(rule.from ?? '');
      if (rule.from === undefined || !checked.ok)
        throw new ExtractError(context, `extract[${index}].from must be a relative path inside ${context.archive}`);
      return { from: checked.path, directory: rule.from.endsWith('/'), to: rule.to };
    });
    this.matches = declared.map(() => 0);
  }

  /** Placements for a file, symlink or hard link at `archivePath`: one per matching rule. */
  place(archivePath: string): Placement[] {
    const placements: Placement[] = [];
    this.rules.forEach((rule, index) => {
      const imagePath = destination(rule, archivePath);
      if (imagePath === undefined) return;
      this.matches[index] = (this.matches[index] ?? 0) + 1;
      placements.push({ rule: index, imagePath, mode: this.declared[index]?.mode });
    });
    return placements;
  }

  /** A rule without a trailing "/" that names a directory is a manifest mistake worth a precise message. */
  checkDirectory(archivePath: string): void {
    const index = this.rules.findIndex((rule) => !rule.directory && rule.from === archivePath);
    if (index !== -1)
      throw new ExtractError(
        this.context,
        `extract[${index}].from "${this.declared[index]?.from}" is a directory in ${this.context.archive}; end it with "/" to map what is inside`,
      );
  }

  /** Throws for the first rule that matched no file or symlink: a typo, or upstream changed its layout. */
  checkEveryRuleMatched(): void {
    const index = this.matches.indexOf(0);
    if (index !== -1)
      throw new ExtractError(this.context, `extract[${index}].from "${this.declared[index]?.from}" matched nothing in ${this.context.archive}`);
  }

  /** "extract[1] (bin/)" for messages about what a rule wrote. */
  describe(rule: number): string {
    return `extract[${rule}] ("${this.declared[rule]?.from}")`;
  }
}

function destination(rule: ParsedRule, archivePath: string): string | undefined {
  if (rule.directory) {
    if (rule.from === '') return rule.to + archivePath;
    return archivePath.startsWith(`${rule.from}/`) ? rule.to + archivePath.slice(rule.from.length + 1) : undefined;
  }
  if (archivePath !== rule.from) return undefined;
  // Like cp: a `to` ending in "/" is the directory to put the file in.
  return rule.to.endsWith('/') ? rule.to + path.posix.basename(archivePath) : rule.to;
}

/**
 * The declared mode wins, because that is how a manifest asks for setuid. Otherwise only the
 * execute bit survives: setuid/setgid/sticky and group/world write never come from an archive.
 */
export function fileMode(declared: number | undefined, archiveMode: number | undefined): number {
  if (declared !== undefined) return declared;
  return (archiveMode ?? 0) & 0o111 ? 0o755 : 0o644;
}
