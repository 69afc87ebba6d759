/**
 * Undoes what Flatcar's build_torcx_store did to every unit at build time, so the unit runs
 * from a merged /usr: it added `Requires=torcx.target` and `After=torcx.target` below
 * `[Unit]`, `EnvironmentFile=/run/metadata/torcx` and `Environment=TORCX_IMAGEDIR=/NAME`
 * below `[Service]`, turned `/usr/bin/X` into `${TORCX_BINDIR}/X` and wrapped a leading one
 * as `/usr/bin/env PATH=${TORCX_BINDIR}:${PATH} ${TORCX_BINDIR}/X`; units also refer to their
 * own files as `${TORCX_UNPACKDIR}${TORCX_IMAGEDIR}/…`. In a sysext those are plain paths.
 */

export interface UnitRewrite {
  text: string;
  /** What changed, one line each, for the report. */
  changes: string[];
  /** Lines that still mention a TORCX_ variable: nothing sets them on a sysext host. */
  unresolved: string[];
}

/** Dependency lists that torcx.target was added to; other tokens on the line stay. */
const DEPENDENCY_KEYS = new Set(['Requires', 'After', 'Wants']);
const TORCX_TARGET = 'torcx.target';
const TORCX_METADATA = '/run/metadata/torcx';
const ASSIGNMENT = /^(\s*)([A-Za-z][A-Za-z0-9]*)(\s*=\s*)(.*)$/;

/** Plain paths for what the Torcx runtime set at boot: its bin dir is /usr/bin, its unpack root is /. */
const RESOLUTIONS: [RegExp, string, string][] = [
  [/\/usr\/bin\/env PATH=\$\{TORCX_BINDIR\}:\$\{PATH\}\s+/g, '', '/usr/bin/env PATH=${TORCX_BINDIR}:${PATH} prefix'],
  [/\$\{TORCX_UNPACKDIR\}\$\{TORCX_IMAGEDIR\}/g, '', '${TORCX_UNPACKDIR}${TORCX_IMAGEDIR}'],
  [/\$\{TORCX_BINDIR\}/g, '/usr/bin', '${TORCX_BINDIR}'],
];

export function rewriteUnit(text: string): UnitRewrite {
  const changes: string[] = [];
  const unresolved: string[] = [];
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    const rewritten = rewriteLine(line, changes);
    if (rewritten === undefined) continue;
    if (rewritten.includes('TORCX_') && !/^\s*[#;]/.test(rewritten)) unresolved.push(rewritten.trim());
    lines.push(rewritten);
  }
  return { text: lines.join('\n'), changes: [...new Set(changes)], unresolved };
}

/** The line as it should read, or undefined when it goes. */
function rewriteLine(line: string, changes: string[]): string | undefined {
  const match = ASSIGNMENT.exec(line);
  if (!match) return line;
  const [, indent = '', key = '', equals = '', value = ''] = match;

  if (DEPENDENCY_KEYS.has(key)) {
    const tokens = value.split(/\s+/).filter((token) => token !== '');
    if (!tokens.includes(TORCX_TARGET)) return line;
    const kept = tokens.filter((token) => token !== TORCX_TARGET);
    // An empty `After=` would reset the list systemd has read so far, so the line goes instead.
    if (kept.length === 0) {
      changes.push(`removed ${key}=${TORCX_TARGET}`);
      return undefined;
    }
    changes.push(`removed ${TORCX_TARGET} from ${key}=${value}`);
    return `${indent}${key}${equals}${kept.join(' ')}`;
  }
  if (key === 'EnvironmentFile' && value.trim().replace(/^-/, '') === TORCX_METADATA) {
    changes.push(`removed ${key}=${value.trim()}`);
    return undefined;
  }
  if (key === 'Environment') {
    const assignments = splitAssignments(value);
    const kept = assignments.filter((assignment) => !assignment.replaceAll('"', '').startsWith('TORCX_IMAGEDIR='));
    if (kept.length !== assignments.length) {
      changes.push(`removed ${key}=${value.trim()}`);
      if (kept.length === 0) return undefined;
      return `${indent}${key}${equals}${kept.join(' ')}`;
    }
  }

  let resolved = value;
  for (const [pattern, replacement, what] of RESOLUTIONS) {
    const next = resolved.replace(pattern, replacement);
    if (next !== resolved) changes.push(`resolved ${what} in ${key}=`);
    resolved = next;
  }
  return resolved === value ? line : `${indent}${key}${equals}${resolved}`;
}

/** `Environment=` holds space-separated assignments, each optionally double-quoted. */
function splitAssignments(value: string): string[] {
  return value.match(/(?:"[^"]*"|[^\s"])+/g) ?? [];
}
