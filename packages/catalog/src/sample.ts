import { mkdir, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sha256File } from '@bakehouse/builder';
import {
  RELEASE_INDEX_FILE,
  parseExtension,
  parseReleaseIndex,
  type ExtensionInput,
  type ExtensionManifest,
  type ReleaseIndex,
  type ReleaseIndexImage,
  type ReleaseIndexSnippet,
} from '@bakehouse/schema';

/**
 * A demo release tree shaped like the one `bakehouse publish` writes: images, Butane, Ignition
 * and sysupdate snippets, and index.json. The catalog's browser tests and the screenshot script
 * render it; the images are placeholder files (sparse, of the requested size), not real sysexts.
 */
export interface SampleTree {
  index: ReleaseIndex;
  manifests: ExtensionManifest[];
}

interface SampleExtension {
  manifest: ExtensionInput;
  /** Versions, newest first; with lines, one version per line. */
  versions: { version: string; line?: string }[];
  bytes: number;
  versionId?: string;
}

const SAMPLES: SampleExtension[] = [
  {
    manifest: {
      name: 'containerd',
      category: 'container-runtimes',
      description: 'containerd container runtime with runc, from the upstream static release',
      homepage: 'https://containerd.io',
      enable: ['containerd.service'],
      conflicts: { builtins: ['containerd-flatcar'] },
    },
    versions: [{ version: '2.1.4' }, { version: '2.1.3' }],
    bytes: 31_457_280,
  },
  {
    manifest: {
      name: 'docker',
      category: 'container-runtimes',
      description: 'Docker Engine with its own containerd and runc, from the upstream static bundle',
      homepage: 'https://docs.docker.com/engine/',
      enable: ['docker.socket', 'containerd.service'],
      conflicts: { extensions: ['containerd'], builtins: ['docker-flatcar', 'containerd-flatcar'] },
    },
    versions: [{ version: '28.5.1' }],
    bytes: 62_914_560,
  },
  {
    manifest: {
      name: 'kubernetes',
      category: 'kubernetes',
      description: 'kubeadm, kubelet and kubectl with the CNI plugins and crictl; one image per supported minor line',
      homepage: 'https://kubernetes.io',
      lines: ['1.35', '1.34'],
      enable: ['kubelet.service'],
      requires: [{ anyOf: ['containerd', 'containerd-flatcar'] }],
    },
    versions: [
      { version: '1.35.2', line: '1.35' },
      { version: '1.34.5', line: '1.34' },
    ],
    bytes: 94_371_840,
  },
  {
    manifest: {
      name: 'oem-qemu',
      category: 'oem',
      description: 'QEMU guest agent for Flatcar on QEMU/KVM, from Debian, pinned to one Flatcar release like official OEM images',
      homepage: 'https://www.qemu.org',
      arch: ['x86-64'],
      release: { compat: 'release' },
      enable: ['qemu-guest-agent.service'],
    },
    versions: [{ version: '10.0.3' }],
    bytes: 4_194_304,
    versionId: '4230.2.3',
  },
  {
    manifest: {
      name: 'podman',
      category: 'container-runtimes',
      description: 'podman with crun, conmon, netavark, aardvark-dns, passt, fuse-overlayfs and catatonit, from Debian, self-contained',
      homepage: 'https://podman.io',
      enable: ['podman.socket', 'podman-sysext-setup.service'],
      conflicts: { builtins: ['flatcar-podman'] },
    },
    versions: [{ version: '5.4.2+ds1.2+b2' }],
    bytes: 54_525_952,
  },
];

export interface SampleOptions {
  baseUrl?: string;
  /** Image sizes scaled by this factor: 1 for realistic sizes in screenshots, small for fast tests. */
  sizeScale?: number;
}

/** Writes the demo tree into `treeDir` and returns its index (parsed back from index.json) and manifests. */
export async function writeSampleTree(treeDir: string, options: SampleOptions = {}): Promise<SampleTree> {
  const baseUrl = options.baseUrl ?? 'https://extensions.example.org';
  const scale = options.sizeScale ?? 1;
  const manifests: ExtensionManifest[] = [];
  const extensions: ReleaseIndex['extensions'] = {};
  for (const sample of SAMPLES) {
    const manifest = parseExtension(sample.manifest, `sample ${sample.manifest.name}`);
    manifests.push(manifest);
    const { name } = manifest;
    await mkdir(path.join(treeDir, name), { recursive: true });
    const images: ReleaseIndexImage[] = [];
    const snippets: ReleaseIndexSnippet[] = [];
    const bytes = Math.max(64, Math.round(sample.bytes * scale));
    const write = async (file: string, text: string) => writeFile(path.join(treeDir, file), text);
    for (const { version, line } of sample.versions) {
      for (const arch of manifest.arch) {
        const image = `${name}/${name}-${version}-${arch}.raw`;
        await write(image, `placeholder image ${name} ${version} ${arch}\n`);
        await truncate(path.join(treeDir, image), bytes);
        images.push({
          extension: name,
          version,
          ...(line ? { line } : {}),
          arch,
          format: manifest.format,
          path: image,
          sha256: await sha256File(path.join(treeDir, image)),
          bytes,
          compatibility: sample.versionId ? { id: 'flatcar', versionId: sample.versionId } : { id: 'flatcar', sysextLevel: '1.0' },
          requires: manifest.requires.map((r) => (typeof r === 'string' ? r : r.anyOf.join(' | '))),
          conflicts: manifest.conflicts,
        });
      }
    }
    // As publish does: snippets for the newest image overall, and with lines also for each line's newest.
    const newest = [{ version: sample.versions[0]!.version, line: undefined }, ...sample.versions.filter((v) => v.line !== undefined)];
    for (const { version, line } of newest) {
      const stem = line ? `${name}-v${line}` : name;
      const transfer = renderTransfer(name, baseUrl, line);
      await write(`${name}/${stem}.transfer`, transfer);
      await write(`${name}/${stem}.conf`, transfer);
      snippets.push({ kind: 'sysupdate-transfer', path: `${name}/${stem}.transfer`, ...(line ? { line } : {}) });
      snippets.push({ kind: 'sysupdate-conf', path: `${name}/${stem}.conf`, ...(line ? { line } : {}) });
      for (const arch of manifest.arch) {
        const image = images.find((i) => i.version === version && i.arch === arch)!;
        const provisioning = { name, baseUrl, image, stem, masks: manifest.conflicts.builtins };
        await write(`${name}/${stem}-${arch}.bu`, renderButane(provisioning));
        await write(`${name}/${stem}-${arch}.ign`, renderIgnition(provisioning));
        snippets.push({ kind: 'butane', path: `${name}/${stem}-${arch}.bu`, arch, ...(line ? { line } : {}) });
        snippets.push({ kind: 'ignition', path: `${name}/${stem}-${arch}.ign`, arch, ...(line ? { line } : {}) });
      }
    }
    extensions[name] = {
      description: manifest.description,
      category: manifest.category,
      homepage: manifest.homepage,
      ...(manifest.lines ? { lines: manifest.lines } : {}),
      requires: images[0]?.requires ?? [],
      conflicts: manifest.conflicts,
      images,
      snippets,
    };
  }
  const text = `${JSON.stringify({ indexVersion: 1, baseUrl, publicKeys: ['bakehouse.pub.asc'], extensions }, null, 2)}\n`;
  await writeFile(path.join(treeDir, RELEASE_INDEX_FILE), text);
  await writeFile(path.join(treeDir, 'bakehouse.pub.asc'), '-----BEGIN PGP PUBLIC KEY BLOCK-----\n(sample)\n-----END PGP PUBLIC KEY BLOCK-----\n');
  return { index: parseReleaseIndex(text, path.join(treeDir, RELEASE_INDEX_FILE)), manifests };
}

function renderTransfer(name: string, baseUrl: string, line: string | undefined): string {
  const pattern = line ? `${name}-${line}.@v-%a.raw` : `${name}-@v-%a.raw`;
  return `[Transfer]
Verify=yes

[Source]
Type=url-file
Path=${baseUrl}/${name}/
MatchPattern=${pattern}

[Target]
Type=regular-file
Path=/opt/extensions/${name}
MatchPattern=${pattern}
CurrentSymlink=/etc/extensions/${name}.raw
InstancesMax=2
`;
}

interface Provisioning {
  name: string;
  baseUrl: string;
  image: ReleaseIndexImage;
  stem: string;
  masks: string[];
}

function renderButane({ name, baseUrl, image, stem, masks }: Provisioning): string {
  const installed = `/opt/extensions/${name}/${image.path.split('/').pop()}`;
  return `variant: flatcar
version: 1.0.0
storage:
  files:
    - path: ${installed}
      mode: 0644
      contents:
        source: ${baseUrl}/${image.path}
        verification:
          hash: sha256-${image.sha256}
    - path: /etc/sysupdate.${name}.d/${stem}.conf
      mode: 0644
      contents:
        source: ${baseUrl}/${name}/${stem}.conf
  links:
    - path: /etc/extensions/${name}.raw
      target: ${installed}
      hard: false
${masks.map((m) => `    - path: /etc/extensions/${m}.raw\n      target: /dev/null\n      hard: false\n      overwrite: true\n`).join('')}`;
}

function renderIgnition({ name, baseUrl, image, stem, masks }: Provisioning): string {
  const installed = `/opt/extensions/${name}/${image.path.split('/').pop()}`;
  const config = {
    ignition: { version: '3.3.0' },
    storage: {
      files: [
        { path: installed, mode: 0o644, contents: { source: `${baseUrl}/${image.path}`, verification: { hash: `sha256-${image.sha256}` } } },
        { path: `/etc/sysupdate.${name}.d/${stem}.conf`, mode: 0o644, contents: { source: `${baseUrl}/${name}/${stem}.conf` } },
      ],
      links: [
        { path: `/etc/extensions/${name}.raw`, target: installed, hard: false },
        ...masks.map((m) => ({ path: `/etc/extensions/${m}.raw`, target: '/dev/null', hard: false, overwrite: true })),
      ],
    },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}
