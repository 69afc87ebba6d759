import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import { REPO_ROOT, runBakehouse } from '@bakehouse/fixtures';

interface Listed {
  name: string;
  category: string;
  source: string;
  arch: string[];
  lines?: string[];
  lineSource?: string;
}

/** The rows of the README's extension table: | extension | category | source | lines | arches | boot test proves |. */
async function readmeRows(): Promise<Map<string, string[]>> {
  const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.split('\n## Extensions\n')[1]?.split('\n## ')[0] ?? '';
  const rows = section.split('\n').filter((line) => /^\| \[[a-z0-9-]+\]/.test(line));
  return new Map(rows.map((row) => row.split('|').slice(1, -1).map((cell) => cell.trim())).map((cells) => [/^\[([a-z0-9-]+)\]/.exec(cells[0]!)![1]!, cells]));
}

it("the README's extension table has one row per extension, each matching its manifest", async () => {
  const listed = await runBakehouse(['list', '--json'], { cwd: REPO_ROOT });
  expect(listed.exitCode, listed.all).toBe(0);
  const extensions = JSON.parse(listed.stdout) as Listed[];
  const rows = await readmeRows();
  expect([...rows.keys()].sort()).toEqual(extensions.map((e) => e.name).sort());
  for (const e of extensions) {
    const [link, category, source, lines, arches, proves] = rows.get(e.name)!;
    expect(link, e.name).toBe(`[${e.name}](extensions/${e.name})`);
    expect(category, e.name).toBe(e.category);
    expect(source!.startsWith(e.source.startsWith('debian') ? 'Debian' : 'upstream'), `${e.name}: source "${source}"`).toBe(true);
    expect(arches, e.name).toBe(e.arch.join(', '));
    if (e.lineSource) expect(lines, e.name).toMatch(/upstream's schedule/);
    else expect(lines, e.name).toBe(e.lines?.join(', ') ?? '—');
    expect(proves!.length, `${e.name}: say what its boot test proves`).toBeGreaterThan(10);
  }
});
