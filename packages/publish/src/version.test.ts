import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { compareVersions } from './version.js';

const PAIRS: [string, string][] = [
  ['1.34.5', '1.34.10'],
  ['2.1.4', '2.1.4'],
  ['2.1.4', '2.1.4.1'],
  ['1.0~rc1', '1.0'],
  ['1.0', '1.0^1'],
  ['1.0-1', '1.0.1'],
  ['5.4.2+ds1', '5.4.2'],
  ['28.5.2', '28.10.0'],
  ['1.0a', '1.0b'],
  ['1.0a', '1.0.1'],
  ['0010', '9'],
];

describe('compareVersions', () => {
  it('orders versions exactly as systemd-analyze compare-versions does', async () => {
    for (const [a, b] of PAIRS) {
      const { stdout } = await execa('systemd-analyze', ['compare-versions', a, b], { reject: false });
      const expected = stdout.includes(' < ') ? -1 : stdout.includes(' > ') ? 1 : 0;
      expect([a, b, compareVersions(a, b)]).toEqual([a, b, expected]);
      expect(compareVersions(b, a)).toBe(0 - expected || 0);
    }
  });
});
