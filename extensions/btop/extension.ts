import { defineExtension } from '@bakehouse/schema';

/**
 * btop draws to a terminal and has no batch mode, so the check gives it one: a pty from
 * `script`, sized by stty, stopped by timeout. A copy of sleep under a name of its own is the
 * process it must show; /proc/PID/comm keeps 15 characters, so the name is shorter.
 * `--foreground` keeps btop in the pty's foreground process group: in a group of its own it
 * may not set up the terminal and exits at once without drawing.
 */
const MARKER = 'bkhs-marker';
const RENDER = `script -qec 'stty rows 50 cols 200; HOME=/tmp TERM=xterm-256color timeout --foreground 5 btop --utf-force' /dev/null > /tmp/btop.out 2>&1; grep -a -c ${MARKER} /tmp/btop.out`;

export default defineExtension({
  name: 'btop',
  description: 'btop, the terminal resource monitor (processes, CPU, memory, disks, network), from Debian, self-contained',
  category: 'tools',
  homepage: 'https://github.com/aristocratos/btop',
  arch: ['x86-64', 'arm64'],
  debian: {
    suite: 'trixie',
    packages: ['btop'],
    export: [{ from: '/usr/bin/btop', to: '/usr/bin/btop' }],
  },
  release: { id: 'flatcar', compat: 'level' },
  smoke: {
    units: [],
    commands: [
      'btop --version',
      `cp /usr/bin/sleep /tmp/${MARKER} && { /tmp/${MARKER} 60 & } && ${RENDER}`,
    ],
  },
});
