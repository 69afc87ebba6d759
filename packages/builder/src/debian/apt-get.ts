import { execa } from 'execa';
import type { AptRoot } from './apt-root.js';

export interface AptResult {
  ok: boolean;
  stdout: string;
  /** stdout and stderr interleaved, without apt's progress lines: what to quote in an error. */
  messages: string;
}

const PROGRESS_LINE = /^(Reading package lists|Building dependency tree|Reading state information)/;

/** Runs apt-get or apt-cache inside the private root. LC_ALL=C keeps apt's messages in English, which callers parse. */
export async function runApt(root: AptRoot, command: 'apt-get' | 'apt-cache', args: readonly string[]): Promise<AptResult> {
  const result = await execa(command, ['-q', ...args], {
    env: { APT_CONFIG: root.configFile, LC_ALL: 'C' },
    reject: false,
    all: true,
  });
  const messages = (result.all ?? '')
    .split('\n')
    .filter((line) => line.trim() !== '' && !PROGRESS_LINE.test(line))
    .join('\n');
  return { ok: result.exitCode === 0, stdout: result.stdout ?? '', messages };
}
