import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootVm, ensureVmRoot, findImages, type BootResult, type PlacedFile, type VmRoot } from './index.js';
import { CONTAINERD_V2_CONFIG, describeFailure, output } from './test-support/boot-helpers.js';
import { fixtureWorkspace } from './test-support/fixture-images.js';
import { repoFlatcarVersion } from './test-support/workspace.js';

// Our docker and containerd images as drop-ins for Flatcar's docker-flatcar and
// containerd-flatcar, under a real kernel: the customizations Flatcar's docs and kola's tests
// use (DOCKER_OPTS, /etc/docker/daemon.json, CONTAINERD_CONFIG, the docs' Butane snippets)
// work unchanged, and the /usr/share defaults apply when /etc has nothing. Two boots.

let vm: VmRoot;
let workspace: string;
const timings: Record<string, number> = {};

async function image(name: string): Promise<string> {
  return (await findImages(path.join(workspace, 'extensions', name, 'dist'), name, 'x86-64')).at(-1)!;
}

beforeAll(async () => {
  const flatcarVersion = await repoFlatcarVersion();
  vm = await ensureVmRoot(flatcarVersion);
  workspace = await fixtureWorkspace(flatcarVersion);
}, 1_800_000);

afterAll(() => {
  process.stderr.write(`builtin parity timings: ${JSON.stringify(timings)}\n`);
});

/** containerd's own config, so a run shows which config it read: a distinct root directory. */
const containerdConfig = (root: string) => String(CONTAINERD_V2_CONFIG['/etc/containerd/config.toml']).replace('root = "/var/lib/containerd"', `root = "${root}"`);

/** The command line of a unit's main process. */
const cmdline = (unit: string) => `tr '\\0' ' ' < /proc/$(systemctl show -p MainPID --value ${unit})/cmdline`;

/** Units and drop-ins exactly as the Butane snippets of Flatcar's "Customizing Docker" write them. */
const FLATCAR_DOCS_DOCKER: Record<string, PlacedFile> = {
  // Enable the remote API on a new socket (units with `enabled: true` get their WantedBy= link).
  '/etc/systemd/system/docker-tcp.socket': '[Unit]\nDescription=Docker Socket for the API\n\n[Socket]\nListenStream=2375\nBindIPv6Only=both\nService=docker.service\n\n[Install]\nWantedBy=sockets.target\n',
  '/etc/systemd/system/sockets.target.wants/docker-tcp.socket': { symlink: '/etc/systemd/system/docker-tcp.socket' },
  // Use an HTTP proxy.
  '/etc/systemd/system/docker.service.d/http-proxy.conf': '[Service]\nEnvironment="HTTP_PROXY=http://proxy.example.com:8080"\n',
  // kola's docker.userns (with the remap user docker creates itself).
  '/etc/systemd/system/docker.service.d/10-userns.conf': '[Service]\nEnvironment="DOCKER_OPTS=--userns-remap=default"\n',
  '/etc/docker/daemon.json': '{"log-driver":"none"}\n',
  // Use a custom containerd configuration.
  '/etc/containerd/config.toml': containerdConfig('/var/lib/containerd-custom'),
  '/etc/systemd/system/containerd.service.d/10-use-custom-config.conf': CONTAINERD_V2_CONFIG['/etc/systemd/system/containerd.service.d/10-use-custom-config.conf']!,
};

describe('docker as docker-flatcar: the documented customizations work unchanged', () => {
  it('DOCKER_OPTS remaps uids, /etc/docker/daemon.json and an HTTP proxy drop-in reach dockerd, docker-tcp.socket serves the API, CONTAINERD_CONFIG moves containerd; without the /etc file the default comes back', async () => {
    const uidMap = 'docker run -d --name remapped "$BAKEHOUSE_TEST_IMAGE_REF" sleep 3600 >/dev/null && cat /proc/$(docker inspect -f "{{.State.Pid}}" remapped)/uid_map';
    const backToDefault = 'rm /etc/docker/daemon.json && systemd-tmpfiles --create docker.conf && readlink /etc/docker/daemon.json && systemctl restart docker.service && docker info -f "{{.LoggingDriver}}"';
    const commands = [
      'docker info -f "{{.LoggingDriver}}"',
      'docker info -f "{{.HTTPProxy}}"',
      'docker info -f "{{json .SecurityOptions}}"',
      cmdline('docker.service'),
      'docker load -i "$BAKEHOUSE_TEST_IMAGE" >/dev/null',
      uidMap,
      'docker -H tcp://127.0.0.1:2375 version -f "{{.Server.Os}}"',
      'stat -c %g /run/docker.sock',
      'test -S /run/docker/libcontainerd/docker-containerd.sock',
      'test -e /var/lib/containerd-custom/io.containerd.metadata.v1.bolt/meta.db && ! test -e /var/lib/containerd',
      'systemctl show -p Upholds --value sockets.target multi-user.target',
      backToDefault,
    ];
    const started = Date.now();
    const result: BootResult = await bootVm({
      vm,
      extensions: { docker: await image('docker') },
      files: FLATCAR_DOCS_DOCKER,
      checks: { units: ['docker.socket', 'docker-tcp.socket', 'containerd.service'], commands },
    });
    timings.docker = Date.now() - started;
    expect(result.ok, describeFailure(result)).toBe(true);
    expect(output(result, commands[0]!)).toBe('none');
    expect(output(result, commands[1]!)).toBe('http://proxy.example.com:8080');
    expect(output(result, commands[2]!)).toContain('name=userns');
    // Flatcar's default DOCKER_SELINUX is passed, and harmless on a kernel without SELinux.
    expect(output(result, cmdline('docker.service'))).toMatch(/^\/usr\/bin\/dockerd --host=fd:\/\/ .*--selinux-enabled=true --userns-remap=default\s*$/);
    // Remapped: container root is a subordinate uid, not the host's root (0 0 4294967295).
    const [inside, outside, count] = output(result, uidMap).trim().split(/\s+/).map(Number);
    expect(inside).toBe(0);
    expect(outside).toBeGreaterThan(0);
    expect(count).toBe(65536);
    expect(output(result, commands[6]!)).toBe('linux');
    expect(output(result, 'stat -c %g /run/docker.sock')).toBe('233');
    expect(output(result, commands[10]!).split(/\s+/)).toEqual(expect.arrayContaining(['docker.socket', 'containerd.service']));
    expect(output(result, backToDefault)).toBe('/usr/share/docker/daemon.json\njson-file');
  }, 900_000);
});

describe('containerd as containerd-flatcar', () => {
  it('uses the /usr/share default when /etc has nothing, then a CONTAINERD_CONFIG drop-in, a conf.d fragment, and the docs\' ExecStart= variant', async () => {
    const switchTo = (dropIn: string, config: string) =>
      `mkdir -p /etc/containerd /etc/systemd/system/containerd.service.d && printf '%s' '${config}' > /etc/containerd/config.toml && printf '${dropIn.replace(/\n/g, '\\n')}' > /etc/systemd/system/containerd.service.d/10-use-custom-config.conf && systemctl daemon-reload && systemctl restart containerd.service`;
    const run = 'ctr image import "$BAKEHOUSE_TEST_IMAGE" >/dev/null && ctr run --rm "$BAKEHOUSE_TEST_IMAGE_REF" parity echo ran';
    const defaults = [cmdline('containerd.service'), 'ls /etc/containerd 2>&1 || true', run, 'test -S /run/docker/libcontainerd/docker-containerd.sock'];
    const fragment = `mkdir -p /etc/containerd/conf.d && printf 'version = 2\\nroot = "/var/lib/containerd-fragment"\\n' > /etc/containerd/conf.d/10-root.toml && systemctl restart containerd.service && ctr version >/dev/null && test -e /var/lib/containerd-fragment/io.containerd.metadata.v1.bolt/meta.db && rm -r /etc/containerd/conf.d`;
    const dropIn = `${switchTo('[Service]\nEnvironment=CONTAINERD_CONFIG=/etc/containerd/config.toml\n', containerdConfig('/var/lib/containerd-custom'))} && ${cmdline('containerd.service')} && ${run} && test -e /var/lib/containerd-custom/io.containerd.metadata.v1.bolt/meta.db`;
    // The older docs' variant: containerd without --config reads /etc/containerd/config.toml.
    const execStart = `${switchTo('[Service]\nExecStart=\nExecStart=/usr/bin/containerd\n', containerdConfig('/var/lib/containerd-etc'))} && ctr version >/dev/null && test -e /var/lib/containerd-etc/io.containerd.metadata.v1.bolt/meta.db`;
    // A user's file under Flatcar's Upholds= drop-in name replaces ours.
    const unheld = 'mkdir -p /etc/systemd/system/multi-user.target.d && ln -s /dev/null /etc/systemd/system/multi-user.target.d/10-containerd-service.conf && systemctl daemon-reload && systemctl show -p Upholds --value multi-user.target';
    const commands = [...defaults, fragment, dropIn, execStart, unheld];
    const started = Date.now();
    const result = await bootVm({ vm, extensions: { containerd: await image('containerd') }, checks: { units: ['containerd.service'], commands } });
    timings.containerd = Date.now() - started;
    expect(result.ok, describeFailure(result)).toBe(true);
    expect(output(result, commands[0]!)).toMatch(/^\/usr\/bin\/containerd --config \/usr\/share\/containerd\/config\.toml\s*$/);
    expect(output(result, commands[1]!)).toMatch(/No such file or directory/);
    expect(output(result, run)).toBe('ran');
    expect(output(result, dropIn)).toMatch(/^\/usr\/bin\/containerd --config \/etc\/containerd\/config\.toml\s+ran$/);
    expect(output(result, unheld)).not.toContain('containerd.service');
  }, 900_000);
});
