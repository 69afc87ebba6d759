import { PROBE_DIR } from './root.js';

/** What must hold after boot: the manifest's `smoke` section, or a test's own checks. */
export interface Checks {
  /** Units that must become active (a listening socket, a finished RemainAfterExit oneshot). */
  units: string[];
  /** Shell commands that must exit 0. */
  commands: string[];
}

export interface CheckResult {
  kind: 'unit' | 'command';
  /** The unit name or the command line. */
  name: string;
  ok: boolean;
  exitCode: number;
  durationMs: number;
  /** `systemctl status` of a unit, or what a command printed. */
  output: string;
}

export interface ProbeOptions {
  /** How long units may take to become active after the probe starts. */
  unitWaitSeconds: number;
  /** Upper bound for one command. */
  commandTimeoutSeconds: number;
  /**
   * A character device the results are also written to as a tar stream (the VM's
   * virtio-serial port): a guest's disk cannot be read back while it runs.
   */
  resultsPort?: string;
  /** Variables the checks see, such as where the testbed's container image is. */
  environment?: Record<string, string>;
}

const sh = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;

/**
 * The shell script the probe unit runs inside the container. It checks units first (waiting
 * for them, since ensure-sysext restarts the targets without blocking), then commands, and
 * writes ${PROBE_DIR}/results.json, each check's output as check-N.log, `systemd-sysext
 * status` as sysext.txt and, when anything failed, a journal excerpt as journal.txt.
 */
export function probeScript(checks: Checks, options: ProbeOptions): string {
  const lines = [
    'set -u',
    'export HOME=/root',
    ...Object.entries(options.environment ?? {}).map(([k, v]) => `export ${k}=${sh(v)}`),
    `dir=${PROBE_DIR}`,
    'now() { echo $(( $(date +%s%N) / 1000000 )); }',
    `deadline=$(( $(date +%s) + ${options.unitWaitSeconds} ))`,
    'failed=0',
    ': > "$dir/results.part"',
    // $1: the check's JSON head (kind, name), $2: exit status, $3: start time in ms.
    'record() {',
    '  [ -s "$dir/results.part" ] && printf , >> "$dir/results.part"',
    '  printf \'%s,"exitCode":%d,"durationMs":%d}\' "$1" "$2" $(( $(now) - $3 )) >> "$dir/results.part"',
    '  [ "$2" -eq 0 ] || failed=$((failed + 1))',
    '}',
    'wait_active() {',
    '  while :; do',
    '    case "$(systemctl is-active "$1" 2>/dev/null)" in active) return 0 ;; failed) return 3 ;; esac',
    '    [ "$(date +%s)" -lt "$deadline" ] || return 3',
    '    sleep 0.2',
    '  done',
    '}',
  ];
  let n = 0;
  for (const unit of checks.units) {
    const head = JSON.stringify({ kind: 'unit', name: unit }).slice(0, -1);
    lines.push(
      `start=$(now); wait_active ${sh(unit)}; rc=$?`,
      `systemctl status --no-pager --full -n 30 ${sh(unit)} > "$dir/check-${n}.log" 2>&1`,
      `record ${sh(head)} $rc $start`,
    );
    n++;
  }
  for (const command of checks.commands) {
    const head = JSON.stringify({ kind: 'command', name: command }).slice(0, -1);
    lines.push(
      `start=$(now); timeout ${options.commandTimeoutSeconds} sh -c ${sh(command)} > "$dir/check-${n}.log" 2>&1 < /dev/null; rc=$?`,
      `record ${sh(head)} $rc $start`,
    );
    n++;
  }
  lines.push(
    'systemd-sysext status --no-pager > "$dir/sysext.txt" 2>&1',
    'if [ "$failed" -ne 0 ]; then',
    '  { systemctl --failed --no-pager; echo; journalctl -b --no-pager -o short-monotonic -n 300; } > "$dir/journal.txt" 2>&1',
    'fi',
    'printf \'{"checks":[%s]}\\n\' "$(cat "$dir/results.part")" > "$dir/results.json.part"',
    'mv "$dir/results.json.part" "$dir/results.json"',
  );
  if (options.resultsPort)
    lines.push(
      `(cd "$dir" && tar -cf ${sh(options.resultsPort)} results.json sysext.txt $(ls check-*.log journal.txt 2>/dev/null))`,
      // The port is a stream with no end marker: give the host side time to drain it before power-off.
      'sleep 1',
    );
  lines.push('');
  return lines.join('\n');
}
