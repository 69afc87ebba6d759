import { parse } from 'yaml';
import { z } from 'zod';
import type { UpstreamContext } from './context.js';
import { UpstreamError } from './errors.js';
import { getText } from './http.js';

/** kubernetes/website's data, as https://kubernetes.io/releases shows it. */
const WEBSITE_DATA = 'kubernetes/website/main/data/releases';

const IsoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date as YYYY-MM-DD');
const Line = z.string().regex(/^\d+\.\d+$/, 'a MAJOR.MINOR release such as "1.36"');

/** The fields of schedule.yaml that decide the lines; each entry has more (next, previousPatches, maintenanceModeStartDate). */
const Schedule = z.object({
  schedules: z.array(z.object({ release: Line, releaseDate: IsoDate.optional(), endOfLifeDate: IsoDate })).min(1, 'at least one release'),
});

/** eol.yaml: where a release goes from schedule.yaml once it reached its end of life. */
const EndOfLife = z.object({ branches: z.array(z.object({ release: Line, endOfLifeDate: IsoDate })) });

export interface ScheduledLine {
  line: string;
  /** YYYY-MM-DD, the last day upstream supports the line. */
  endOfLife: string;
  /** YYYY-MM-DD, when its .0 came out; absent in entries that predate the field. */
  releaseDate?: string;
}

export function scheduleUrl(ctx: UpstreamContext): string {
  return `${ctx.bases.githubRaw}/${WEBSITE_DATA}/schedule.yaml`;
}

/** The releases schedule.yaml lists: the ones upstream patches, or is about to stop patching. */
export async function kubernetesSchedule(ctx: UpstreamContext): Promise<ScheduledLine[]> {
  const url = scheduleUrl(ctx);
  const data = readYaml(url, (await getText(url, ctx.http)).text, Schedule, 'Kubernetes\' release schedule (schedules: a list of release, releaseDate, endOfLifeDate)');
  return data.schedules.map(({ release, releaseDate, endOfLifeDate }) => ({ line: release, endOfLife: endOfLifeDate, ...(releaseDate ? { releaseDate } : {}) }));
}

/** End-of-life dates from eol.yaml, for lines that have left the schedule. */
export async function kubernetesEndOfLife(ctx: UpstreamContext): Promise<Map<string, string>> {
  const url = `${ctx.bases.githubRaw}/${WEBSITE_DATA}/eol.yaml`;
  const data = readYaml(url, (await getText(url, ctx.http)).text, EndOfLife, 'Kubernetes\' end-of-life list (branches: a list of release, endOfLifeDate)');
  return new Map(data.branches.map((branch) => [branch.release, branch.endOfLifeDate]));
}

/**
 * YAML read with the failsafe schema: every scalar stays the string it is written as. The core
 * schema would read `release: 1.30` as the number 1.3 and `2026-10-27` as a timestamp.
 */
function readYaml<T>(url: string, text: string, schema: z.ZodType<T>, expected: string): T {
  let data: unknown;
  try {
    data = parse(text, { schema: 'failsafe' });
  } catch (error) {
    throw new UpstreamError(url, `${url}: not YAML (${(error as Error).message.split('\n')[0]})`);
  }
  const result = schema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new UpstreamError(url, `${url}: expected ${expected}; at ${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  return result.data;
}

/** Today as YYYY-MM-DD in UTC, the time zone upstream's dates are meant in. */
export function isoDay(now: Date): string {
  return now.toISOString().slice(0, 10);
}

/** Newest first, as MAJOR.MINOR compares. */
export function compareLinesNewestFirst(a: string, b: string): number {
  const [am, an] = a.split('.').map(Number) as [number, number];
  const [bm, bn] = b.split('.').map(Number) as [number, number];
  return bm - am || bn - an;
}
