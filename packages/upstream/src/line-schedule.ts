import type { ExtensionLock, ExtensionManifest, RetiredLine } from '@bakehouse/schema';
import type { UpstreamContext } from './context.js';
import { BumpError } from './errors.js';
import { compareLinesNewestFirst, isoDay, kubernetesEndOfLife, kubernetesSchedule, scheduleUrl } from './kubernetes-schedule.js';

/** The lines a bump locks, and what it knows of their end of life. */
export interface LinePlan {
  /** Supported lines, newest first. */
  lines: string[];
  /** Each supported line's end of life, recorded in its locked image. */
  endOfLife: Map<string, string>;
  /** Every line dropped after its end of life, this bump's and earlier ones', newest first. */
  retired: RetiredLine[];
}

/**
 * The lines of a manifest whose `lineSource` follows upstream's support window, as of `now`: every
 * release the schedule lists that is out and not past its end-of-life date (the date itself still
 * counts). A locked line that no longer qualifies is retired with its end-of-life date: the
 * schedule's, else the one its image recorded, else eol.yaml's, where upstream moves past releases.
 */
export async function planLines(manifest: ExtensionManifest, oldLock: ExtensionLock | undefined, ctx: UpstreamContext, now: Date): Promise<LinePlan> {
  const today = isoDay(now);
  const schedule = await kubernetesSchedule(ctx);
  const supported = schedule.filter((entry) => (entry.releaseDate === undefined || entry.releaseDate <= today) && today <= entry.endOfLife);
  if (supported.length === 0) throw new BumpError(`${manifest.name}: ${scheduleUrl(ctx)} lists no release that is out and supported on ${today}`);
  const lines = supported.map((entry) => entry.line).sort(compareLinesNewestFirst);

  const retired = new Map((oldLock?.retiredLines ?? []).map((r) => [r.line, r.endOfLife]));
  const dropped = (oldLock?.images ?? []).filter((image) => image.line !== undefined && !lines.includes(image.line));
  let pastReleases: Map<string, string> | undefined;
  for (const image of dropped) {
    const line = image.line!;
    let date = schedule.find((entry) => entry.line === line)?.endOfLife ?? image.endOfLife;
    if (date === undefined) date = (pastReleases ??= await kubernetesEndOfLife(ctx)).get(line);
    if (date === undefined) throw new BumpError(`${manifest.name}: line ${line} is locked, but neither ${scheduleUrl(ctx)} nor eol.yaml beside it lists release ${line}`);
    retired.set(line, date);
  }
  return {
    lines,
    endOfLife: new Map(supported.map((entry) => [entry.line, entry.endOfLife])),
    retired: [...retired].map(([line, endOfLife]) => ({ line, endOfLife })).sort((a, b) => compareLinesNewestFirst(a.line, b.line)),
  };
}
