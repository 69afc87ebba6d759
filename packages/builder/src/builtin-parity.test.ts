import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@bakehouse/fixtures';
import { parseExtension, type ExtensionManifest } from '@bakehouse/schema';
import { extensionFootprint } from './footprint.js';
import { renderUnit } from './render.js';
import { lintReplacements } from './builtin-parity.js';
import { lintWorkspace } from './workspace-lint.js';

/** The repository's manifest and footprint, as `bakehouse lint` sees them. */
async function repoExtension(name: string): Promise<{ manifest: ExtensionManifest; footprint: Set<string> }> {
  const dir = path.join(REPO_ROOT, 'extensions', name);
  const file = path.join(dir, 'extension.ts');
  const manifest = parseExtension(((await import(file)) as { default: unknown }).default, file);
  return { manifest, footprint: await extensionFootprint(manifest, dir) };
}

/** A copy of `manifest` with one unit directive replaced (undefined removes it). */
function withDirective(manifest: ExtensionManifest, unit: string, section: string, key: string, value: string | undefined): ExtensionManifest {
  const copy = structuredClone(manifest);
  const directives = copy.units[unit]![section]!;
  if (value === undefined) delete directives[key];
  else directives[key] = value;
  return copy;
}

const lint = lintReplacements;

describe('replaces: the built-in\'s customization points', () => {
  it('holds for the repository\'s docker and containerd, as bakehouse lint checks them', async () => {
    const docker = await repoExtension('docker');
    const containerd = await repoExtension('containerd');
    expect(docker.manifest.replaces).toEqual(['docker-flatcar', 'containerd-flatcar']);
    expect(containerd.manifest.replaces).toEqual(['containerd-flatcar']);
    const footprints = new Map([['docker', docker.footprint], ['containerd', containerd.footprint]]);
    expect(lintWorkspace([docker.manifest, containerd.manifest], footprints)).toEqual([]);
    const noOpts = withDirective(docker.manifest, 'docker.service', 'Service', 'ExecStart', String(docker.manifest.units['docker.service']!.Service!.ExecStart).replace(' $DOCKER_OPTS', ''));
    expect(lintWorkspace([noOpts, containerd.manifest], footprints).map((p) => p.field)).toEqual(['units["docker.service"].Service.ExecStart']);
  });

  it('fails an edit that drops $DOCKER_OPTS, hard-codes a daemon.json or stops reading socket fds', async () => {
    const { manifest, footprint } = await repoExtension('docker');
    const execStart = String(manifest.units['docker.service']!.Service!.ExecStart);
    const field = 'units["docker.service"].Service.ExecStart';

    const noOpts = lint(withDirective(manifest, 'docker.service', 'Service', 'ExecStart', execStart.replace(' $DOCKER_OPTS', '')), footprint);
    expect(noOpts).toEqual([expect.objectContaining({ extension: 'docker', field, message: expect.stringMatching(/no longer passes \$DOCKER_OPTS \(replaces "docker-flatcar"\): .*DOCKER_OPTS=/) })]);

    const configFile = lint(withDirective(manifest, 'docker.service', 'Service', 'ExecStart', `${execStart} --config-file=/usr/share/docker/daemon.json`), footprint);
    expect(configFile).toEqual([expect.objectContaining({ field, message: expect.stringMatching(/--config-file=\/usr\/share\/docker\/daemon\.json.*\/etc\/docker\/daemon\.json/) })]);

    const noFd = lint(withDirective(manifest, 'docker.service', 'Service', 'ExecStart', execStart.replace('--host=fd://', '--host=unix:///run/docker.sock')), footprint);
    expect(noFd.map((p) => p.field)).toEqual([field]);
  });

  it('fails a hard-coded containerd config, a lost default, a renamed Upholds drop-in and a docker group without gid 233', async () => {
    const { manifest, footprint } = await repoExtension('docker');
    const hardCoded = lint(withDirective(manifest, 'containerd.service', 'Service', 'ExecStart', '/usr/bin/containerd --config /usr/share/containerd/config.toml'), footprint);
    expect(hardCoded).toEqual([expect.objectContaining({ field: 'units["containerd.service"].Service.ExecStart', message: expect.stringMatching(/--config \$\{CONTAINERD_CONFIG\} \(replaces "containerd-flatcar"\)/) })]);

    const env = (manifest.units['containerd.service']!.Service!.Environment as string[]).filter((e) => !e.startsWith('CONTAINERD_CONFIG='));
    const noDefault = lint(withDirective(manifest, 'containerd.service', 'Service', 'Environment', env.join(' ')), footprint);
    expect(noDefault.map((p) => p.message)).toEqual([expect.stringMatching(/CONTAINERD_CONFIG=\/usr\/share\/containerd\/config\.toml/)]);

    const renamed = new Set([...footprint].map((p) => p.replace('10-docker-socket.conf', '10-docker-docker.socket.conf')));
    expect(lint(manifest, renamed)).toEqual([expect.objectContaining({ field: 'files', message: expect.stringMatching(/ships no \/usr\/lib\/systemd\/system\/sockets\.target\.d\/10-docker-socket\.conf/) })]);

    expect(lint({ ...manifest, sysusers: ['g docker -'] }, footprint)).toEqual([expect.objectContaining({ field: 'sysusers', message: expect.stringMatching(/gid 233/) })]);
    expect(lint({ ...manifest, units: { ...manifest.units, 'docker.socket': { Socket: { ListenStream: '/run/docker-api.sock', SocketGroup: 'docker' } } } }, footprint)).toHaveLength(1);
  });

  it('renders the points into the unit files the image ships', async () => {
    const { manifest } = await repoExtension('containerd');
    const unit = renderUnit(manifest.units['containerd.service']!);
    expect(unit).toMatch(/^Environment=CONTAINERD_CONFIG=\/usr\/share\/containerd\/config\.toml$/m);
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/containerd --config \$\{CONTAINERD_CONFIG\}$/m);
    expect(unit).toMatch(/^Delegate=yes$/m);
    const docker = renderUnit((await repoExtension('docker')).manifest.units['docker.service']!);
    expect(docker).toMatch(/^ExecStart=\/usr\/bin\/dockerd --host=fd:\/\/ .*\$DOCKER_SELINUX \$DOCKER_OPTS /m);
    expect(docker).not.toMatch(/--config-file/);
  });

  it('names a built-in without recorded points, and the schema wants it in conflicts.builtins too', () => {
    const base = { name: 'demo', description: 'demo', homepage: 'https://example.org' };
    const podman = parseExtension({ ...base, replaces: ['flatcar-podman'], conflicts: { builtins: ['flatcar-podman'] } }, 'demo.ts');
    expect(lint(podman, new Set())).toEqual([expect.objectContaining({ field: 'replaces[0]', message: expect.stringMatching(/no customization points are recorded for "flatcar-podman".*builtins\.ts/) })]);
    expect(() => parseExtension({ ...base, replaces: ['docker-flatcar'] }, 'demo.ts')).toThrow(/replaces.*conflicts\.builtins/s);
  });
});
