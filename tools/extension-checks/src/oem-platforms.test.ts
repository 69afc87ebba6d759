import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCacheDir, inspectImage, readRecord } from '@bakehouse/builder';
import { binfmtBlocker, ELF_MACHINE, enableBinfmt, mergeSysext, readFromImage, REPO_ROOT, runBakehouse, scratchWorkspace, type BinfmtSession } from '@bakehouse/fixtures';
import { bootTestbed, ensureTestbedRoot, findImages, type BootResult } from '@bakehouse/testbed';

// oem-vmware, oem-azure and oem-gce, built for both architectures from Debian's real archive:
// their packaging (release pin, ELF machine, units that verify and carry the platform
// conditions), one arm64 binary of each run under qemu-user, and one nspawn boot of the three
// x86-64 images together, off their platforms and then with the platform conditions lifted.

const NAMES = ['oem-vmware', 'oem-azure', 'oem-gce'] as const;
type Name = (typeof NAMES)[number];
const ARCHES = ['x86-64', 'arm64'] as const;
type Arch = (typeof ARCHES)[number];

interface Expected {
  sysextName: string;
  /** ID= of /oem/oem-release. */
  oemId: string;
  /** The Debian package that names the image version. */
  agentPackage: string;
  /** A real ELF of the closure whose machine is checked. */
  elf: string;
  /** Unit → the ConditionVirtualization= it must carry. */
  units: Record<string, string>;
  /** The trigger conditions on the kernel command line, as Flatcar's GRUB and Ignition name the platform. */
  commandLine: string[];
  /** A command the image links into /usr. */
  exported: string;
  /** Run in a chroot of the merged arm64 image under qemu-user, and what it must print. */
  arm64Run: { command: string; prints: RegExp };
}

const EXPECTED: Record<Name, Expected> = {
  'oem-vmware': {
    exported: 'usr/bin/vmtoolsd',
    sysextName: 'VMware',
    oemId: 'vmware',
    agentPackage: 'open-vm-tools',
    elf: 'usr/lib/bakehouse/oem-vmware/usr/bin/vmtoolsd',
    units: { 'vmtoolsd.service': 'vmware', 'vgauthd.service': 'vmware' },
    commandLine: ['flatcar.oem.id=vmware', 'ignition.platform.id=vmware'],
    // Its hypervisor check runs (and finds no VMware under qemu-user).
    arm64Run: { command: '/usr/bin/vmware-toolbox-cmd -v', prints: /must be run inside a virtual machine/ },
  },
  'oem-azure': {
    exported: 'usr/libexec/oem-azure/python3',
    sysextName: 'Microsoft Azure',
    oemId: 'azure',
    agentPackage: 'waagent',
    elf: 'usr/lib/bakehouse/oem-azure/usr/bin/python3.13',
    units: { 'waagent.service': 'microsoft' },
    commandLine: ['flatcar.oem.id=azure', 'ignition.platform.id=azure'],
    // waagent's arm64 interpreter with its relocated stdlib and libssl (the agent itself under
    // qemu-user outlasts any test budget; the x86-64 boot runs it).
    arm64Run: { command: `/usr/libexec/oem-azure/python3 -c 'import ssl, sys; print("python", sys.version.split()[0], ssl.OPENSSL_VERSION)'`, prints: /^python 3\.13\.\d+ OpenSSL 3\./m },
  },
  'oem-gce': {
    exported: 'usr/bin/google_guest_agent',
    sysextName: 'Google Compute Engine',
    oemId: 'gce',
    agentPackage: 'google-guest-agent',
    elf: 'usr/lib/bakehouse/oem-gce/usr/bin/google_guest_agent',
    units: { 'google-guest-agent.service': 'google', 'google-startup-scripts.service': 'google', 'google-shutdown-scripts.service': 'google' },
    commandLine: ['flatcar.oem.id=gce', 'ignition.platform.id=gcp'],
    // The agent has no version flag: its argument parser answering is the proof that it ran.
    arm64Run: { command: '/usr/bin/google_guest_agent not-a-command', prints: /"not-a-command" is not a valid argument\.\nUsage:\n\s+google_guest_agent install/ },
  },
};

const ARM64_BLOCKER = await binfmtBlocker('arm64');
if (ARM64_BLOCKER) process.stderr.write(`oem-platforms.test.ts: arm64 runs SKIPPED, arm64 binaries cannot be run here: ${ARM64_BLOCKER}\n`);

const timings: Record<string, string> = {};
let work: string;
let workspace: string;
let flatcarVersion: string;
const images = new Map<string, string>();
const image = (name: Name, arch: Arch) => images.get(`${name}/${arch}`)!;

async function lap<T>(label: string, run: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await run();
  } finally {
    timings[label] = `${((Date.now() - started) / 1000).toFixed(1)} s`;
  }
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'oem-platforms-'));
  flatcarVersion = (JSON.parse(await readFile(path.join(REPO_ROOT, 'flatcar.json'), 'utf8')) as { version: string }).version;
  workspace = await scratchWorkspace([...NAMES]);
  // The download cache is content-addressed: sharing the user's saves the closures' .debs.
  const build = await lap('building 3 × 2 images (gzip)', () =>
    runBakehouse(['build', ...NAMES, '--arch', 'all', '--compression', 'gzip', '--flatcar-version', flatcarVersion, '--quiet'], {
      cwd: workspace,
      env: { BAKEHOUSE_CACHE_DIR: defaultCacheDir() },
    }),
  );
  expect(build.exitCode, build.all).toBe(0);
  for (const name of NAMES) {
    const dist = path.join(workspace, 'extensions', name, 'dist');
    for (const arch of ARCHES) {
      const [file] = await findImages(dist, name, arch);
      expect(file, `no ${arch} image in ${dist}`).toBeDefined();
      images.set(`${name}/${arch}`, file!);
    }
  }
}, 900_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
  if (workspace) await rm(workspace, { recursive: true, force: true });
  process.stderr.write(`oem-platforms.test.ts timings: ${JSON.stringify(timings)}\n`);
});

describe('oem-vmware, oem-azure and oem-gce images', () => {
  it.each(NAMES)('%s: both arches are pinned to the Flatcar release, name their OEM and record the Debian closure', async (name) => {
    const expected = EXPECTED[name];
    const lock = JSON.parse(await readFile(path.join(REPO_ROOT, 'extensions', name, 'extension.lock.json'), 'utf8')) as { images: { debian: Record<Arch, { package: string; version: string }[]> }[] };
    for (const arch of ARCHES) {
      const info = await inspectImage(image(name, arch));
      expect(info.extensionRelease).toMatchObject({ ID: 'flatcar', VERSION_ID: flatcarVersion, ARCHITECTURE: arch, SYSEXT_ID: name, SYSEXT_NAME: expected.sysextName, SYSEXT_VERSION_ID: flatcarVersion });
      expect(info.extensionRelease.SYSEXT_LEVEL).toBeUndefined();
      // What `bakehouse bake` installs as /oem/oem-release.
      expect((await readFromImage(image(name, arch), `/usr/share/oem/${name}/oem-release`)).toString()).toMatch(new RegExp(`^ID=${expected.oemId}\n`));
      const record = await readRecord(image(name, arch).replace(/\.raw$/, '.json'));
      const agent = record.debian?.find((deb) => deb.package === expected.agentPackage);
      expect(agent?.version).toBe(lock.images[0]!.debian[arch].find((deb) => deb.package === expected.agentPackage)!.version);
    }
  });

  it.each(NAMES.flatMap((name) => ARCHES.map((arch) => [name, arch] as const)))('%s %s: merged over a systemd /usr, its ELF is the arch\'s, its units verify and carry the platform conditions', async (name, arch) => {
    const expected = EXPECTED[name];
    const units = Object.keys(expected.units);
    const probe = [
      `printf 'machine=%s\\n' "$(od -An -tu2 -j18 -N2 "$ROOT/${expected.elf}" | tr -d ' ')"`,
      `systemd-analyze verify --root="$ROOT" ${units.join(' ')} 2>&1; echo "verify=$?"`,
      ...units.map((unit) => `echo "## ${unit}"; grep -h '^Condition' "$ROOT/usr/lib/systemd/system/${unit}"; echo "wanted-by=$(readlink "$ROOT/usr/lib/systemd/system/multi-user.target.wants/${unit}")"`),
    ].join('\n');
    const merged = await mergeSysext({ images: { [name]: image(name, arch) }, osRelease: { ID: 'flatcar', VERSION_ID: flatcarVersion }, hostUsr: true, force: arch !== 'x86-64', probe });
    expect(merged.listed).toEqual([name]);
    expect(merged.probeOutput).toContain(`machine=${ELF_MACHINE[arch]}\n`);
    expect(merged.probeOutput).toMatch(/^verify=0$/m);
    for (const [unit, virtualization] of Object.entries(expected.units)) {
      const section = merged.probeOutput.split(`## ${unit}\n`)[1]!.split('\n## ')[0]!;
      expect(section.split('\n').filter((line) => line.startsWith('Condition'))).toEqual([
        `ConditionVirtualization=${virtualization}`,
        ...expected.commandLine.map((argument) => `ConditionKernelCommandLine=|${argument}`),
      ]);
      expect(section).toContain(`wanted-by=../${unit}`);
    }
    // An OEM image belongs to exactly one Flatcar release.
    if (arch === 'x86-64') {
      const other = await mergeSysext({ images: { [name]: image(name, arch) }, osRelease: { ID: 'flatcar', VERSION_ID: '1.0.0' } });
      expect(other.files).not.toContain(expected.exported);
      const same = await mergeSysext({ images: { [name]: image(name, arch) }, osRelease: { ID: 'flatcar', VERSION_ID: flatcarVersion } });
      expect(same.files).toContain(expected.exported);
    }
  });

  describe.skipIf(ARM64_BLOCKER !== undefined)('arm64 under qemu-user', () => {
    let binfmt: BinfmtSession | undefined;
    beforeAll(async () => {
      binfmt = await enableBinfmt('arm64');
    });
    afterAll(async () => {
      await binfmt?.release();
    });

    it.each(NAMES)('%s: its Debian arm64 binary runs from the merged image', async (name) => {
      const { command, prints } = EXPECTED[name].arm64Run;
      const result = await lap(`${name} arm64 run`, () =>
        mergeSysext({
          images: { [name]: image(name, 'arm64') },
          osRelease: { ID: 'flatcar', VERSION_ID: flatcarVersion },
          hostUsr: true,
          force: true,
          probe: `mkdir -p "$ROOT/proc" && mount -t proc proc "$ROOT/proc" && chroot "$ROOT" ${command} 2>&1; echo "exit=$?"`,
        }),
      );
      expect(result.probeOutput).toMatch(prints);
    }, 120_000);
  });
  if (ARM64_BLOCKER) it.skip(`arm64 runs (skipped: ${ARM64_BLOCKER})`, () => {});
});

/** Lifts every condition of a unit with a runtime drop-in: an empty Condition…= resets the unit's whole list. */
function liftConditions(unit: string): string {
  return `mkdir -p /run/systemd/system/${unit}.d && printf '[Unit]\\nConditionVirtualization=\\n' > /run/systemd/system/${unit}.d/50-platform.conf`;
}

describe('the three booted together under systemd (nspawn)', () => {
  let result: BootResult;
  let smokeCount: number;
  const output = (prefix: string) => result.checks.find((check) => check.name.startsWith(prefix))?.output ?? '';

  beforeAll(async () => {
    const root = await lap('(testbed root)', () => ensureTestbedRoot(flatcarVersion));
    const smoke = await Promise.all(NAMES.map(async (name) => (await import(path.join(REPO_ROOT, 'extensions', name, 'extension.ts'))).default.smoke.commands as string[]));
    smokeCount = smoke.flat().length;
    const agents = ['vgauthd.service', 'vmtoolsd.service', 'waagent.service', 'google-guest-agent.service'];
    result = await lap('(nspawn boot)', () =>
      bootTestbed({
        root,
        extensions: Object.fromEntries(NAMES.map((name) => [name, image(name, 'x86-64')])),
        checks: {
          units: [],
          commands: [
            ...smoke.flat(),
            // nspawn cannot be VMware, Azure or GCE: lift the conditions and start each agent as its platform would.
            `${agents.map(liftConditions).join(' && ')} && systemctl daemon-reload && systemctl start --no-block ${agents.join(' ')} && sleep 30`,
            'systemctl show -p ActiveState -p Result vgauthd.service vmtoolsd.service google-guest-agent.service',
            'test -S /run/vmware/guestServicePipe',
            'readlink /etc/waagent.conf /etc/vmware-tools',
            'journalctl -b --no-pager -o cat -u waagent.service -u google-guest-agent.service',
          ],
        },
        timeoutMs: 300_000,
      }),
    );
  }, 600_000);

  it('off their platforms every agent unit stays inactive through its condition, and each image\'s smoke checks pass', () => {
    const failed = result.checks.filter((check) => !check.ok);
    expect(failed.map((check) => `${check.name}\n${check.output}`)).toEqual([]);
    expect(result.checks.length).toBe(smokeCount + 5);
    for (const name of NAMES) expect(result.sysext).toContain(name);
  });

  it('with the platform matched, each agent starts and fails or waits on the missing platform in its own clear way', () => {
    // One block of properties per unit, in the order asked.
    const [vgauthd, vmtoolsd, guestAgent] = output('systemctl show -p ActiveState')
      .trim()
      .split(/\n\n/)
      .map((block) => Object.fromEntries(block.split('\n').map((line) => line.split('=') as [string, string])));
    // VGAuthService needs no hypervisor: it serves its socket. vmtoolsd checks for VMware itself and exits 1.
    expect(vgauthd).toEqual({ ActiveState: 'active', Result: 'success' });
    expect(vmtoolsd).toEqual({ ActiveState: 'failed', Result: 'exit-code' });
    // The Google agent started and, with no metadata server to answer, never reported ready.
    expect(guestAgent).toEqual({ ActiveState: 'activating', Result: 'success' });
    // Both /etc links come from the units' ExecStartPre=.
    expect(output('readlink')).toBe('/usr/share/oem/oem-azure/waagent.conf\n/usr/lib/bakehouse/oem-vmware/etc/vmware-tools');
    const journal = output('journalctl');
    expect(journal).toMatch(/GCE Agent Started \(version Debian 20211116\./);
    // waagent read Flatcar's configuration from /etc and looked for Azure's wire server.
    expect(journal).toContain('Azure Linux Agent Version: 2.12.0.2');
    expect(journal).toContain(`OS: flatcar ${flatcarVersion}`);
    expect(journal).toContain('Using waagent for provisioning');
    expect(journal).toContain('No route exists to 168.63.129.16');
  });
});
