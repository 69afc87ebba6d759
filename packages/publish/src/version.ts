/**
 * systemd's version comparison (strverscmp_improved, `systemd-analyze compare-versions`):
 * systemd-sysupdate orders the versions it finds with it, so retention orders them the same way.
 */
const VALID = /[A-Za-z0-9.~^-]/;

export function compareVersions(left: string, right: string): number {
  let a = 0;
  let b = 0;
  outer: for (;;) {
    while (a < left.length && !VALID.test(left[a]!)) a++;
    while (b < right.length && !VALID.test(right[b]!)) b++;
    const ca = left[a] ?? '';
    const cb = right[b] ?? '';
    // '~' sorts before everything, even the end of the string.
    if (ca === '~' || cb === '~') {
      if (ca !== '~') return 1;
      if (cb !== '~') return -1;
      a++;
      b++;
      continue;
    }
    if (ca === '' || cb === '') return ca === cb ? 0 : ca === '' ? -1 : 1;
    // '-', '^' and '.' sort before any letter or digit.
    for (const separator of ['-', '^', '.']) {
      if (ca === separator || cb === separator) {
        if (ca !== separator) return 1;
        if (cb !== separator) return -1;
        a++;
        b++;
        continue outer;
      }
    }
    const digitA = /[0-9]/.test(ca);
    const digitB = /[0-9]/.test(cb);
    if (digitA || digitB) {
      if (!digitA) return -1;
      if (!digitB) return 1;
      while (left[a] === '0') a++;
      while (right[b] === '0') b++;
      const runA = /^[0-9]*/.exec(left.slice(a))![0];
      const runB = /^[0-9]*/.exec(right.slice(b))![0];
      if (runA.length !== runB.length) return runA.length < runB.length ? -1 : 1;
      if (runA !== runB) return runA < runB ? -1 : 1;
      a += runA.length;
      b += runB.length;
    } else {
      const runA = /^[A-Za-z]*/.exec(left.slice(a))![0];
      const runB = /^[A-Za-z]*/.exec(right.slice(b))![0];
      if (runA !== runB) return runA < runB ? -1 : 1;
      a += runA.length;
      b += runB.length;
    }
  }
}
