import { z } from 'zod';

/** Architecture names as systemd writes them in ARCHITECTURE= (and in `%a`). */
export const ARCHES = ['x86-64', 'arm64'] as const;
export const Arch = z.enum(ARCHES, {
  error: () => `one of ${ARCHES.map((a) => `"${a}"`).join(', ')} (systemd's names, not amd64/aarch64)`,
});
export type Arch = z.infer<typeof Arch>;

export const ARCHIVE_KINDS = ['tar', 'tar.gz', 'tar.xz', 'tar.zst', 'zip', 'file'] as const;
export const IMAGE_FORMATS = ['squashfs', 'erofs'] as const;

const Name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'lowercase letters, digits and "-", starting with a letter or digit');

export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 as 64 lowercase hex characters');

export const Version = z
  .string()
  .regex(/^[0-9][0-9A-Za-z.+~^_]*$/, 'a version starting with a digit, without a "v" prefix or "-", e.g. "2.1.4" (systemd matches @v against it)');

/** A path inside the image. systemd-sysext overlays only /usr and /opt, so nothing else may be written. */
const ImagePath = z
  .string()
  .regex(/^\/(usr|opt)\//, 'an absolute path under /usr/ or /opt/ (systemd-sysext ignores everything else)')
  .refine((p) => !p.split('/').includes('..') && !p.includes('//'), 'a normalised path without ".." or "//"');

/** A path inside a downloaded archive: relative and normalised. */
const ArchivePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'a relative path inside the archive, without ".."');

/** A file of the extension's own, next to its manifest: relative and normalised. */
const ExtensionFile = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..') && !p.includes('//'), 'a path relative to the manifest, without ".."');

const Mode = z
  .number()
  .int()
  .min(0)
  .max(0o7777, 'a file mode such as 0o755 (setuid/setgid bits only when the file really needs them)');

const Extract = z
  .object({
    from: ArchivePath.optional().describe(
      'Path in the archive. Ending in "/" maps a whole directory. Omit for kind "file". May use {version}, {arch}, {goarch} and {uname}, for archives whose top directory names them (tailscale_{version}_{goarch}/).',
    ),
    to: ImagePath.describe('Path in the image. Ends in "/" when `from` is a directory.'),
    mode: Mode.optional().describe(
      'Mode to give the file. Without it: 0755 if executable, else 0644. Setuid/setgid survive only when written here.',
    ),
  })
  .strict()
  .refine((e) => !e.from?.endsWith('/') || e.to.endsWith('/'), {
    message: 'a directory mapping ("from" ends in "/") needs "to" to end in "/" too',
    path: ['to'],
  });

const UrlTemplate = z
  .string()
  .regex(/^https?:\/\//, 'an http(s) URL; it may use {version}, {arch}, {goarch} and {uname}');

const UrlTemplateWithUrl = z
  .string()
  .regex(/^(https?:\/\/|\{url\})/, 'an http(s) URL, or "{url}" plus a suffix; it may use {url}, {version}, {arch}, {goarch} and {uname}');

const GithubReleases = z
  .object({
    type: z.literal('github-releases'),
    repo: z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'OWNER/REPO on GitHub'),
    tagPrefix: z.string().default('v').describe('Stripped from tags to get versions.'),
  })
  .strict();

const KubernetesStable = z
  .object({ type: z.literal('kubernetes-stable') })
  .strict()
  .describe('dl.k8s.io/release/stable-MAJOR.MINOR.txt for each line (stable.txt without lines).');

const DockerStaticIndex = z
  .object({ type: z.literal('docker-static-index'), channel: z.enum(['stable', 'test']).default('stable') })
  .strict()
  .describe('The directory listing of download.docker.com/linux/static/CHANNEL/ARCH/.');

const TailscalePkgs = z
  .object({ type: z.literal('tailscale-pkgs'), track: z.enum(['stable', 'unstable']).default('stable') })
  .strict()
  .describe("The TarballsVersion of pkgs.tailscale.com/TRACK/?mode=json: Tailscale's static tarballs are not on GitHub.");

export const VersionSource = z.discriminatedUnion('type', [GithubReleases, KubernetesStable, DockerStaticIndex, TailscalePkgs], {
  error: () => 'a version source: { type: "github-releases", repo }, { type: "kubernetes-stable" }, { type: "docker-static-index" } or { type: "tailscale-pkgs" }',
});
export type VersionSource = z.output<typeof VersionSource>;

const Checksum = z
  .discriminatedUnion('from', [
    z.object({ from: z.literal('file'), url: UrlTemplateWithUrl.describe('A file holding the sha256, e.g. "{url}.sha256".') }).strict(),
    z.object({ from: z.literal('sha256sums'), url: UrlTemplateWithUrl.describe('A sha256sum-format list naming the file.') }).strict(),
    z.object({ from: z.literal('download') }).strict().describe('Upstream publishes no checksum: bump downloads the file and records its hash.'),
    z
      .object({
        from: z.literal('signed-sha256sums'),
        url: UrlTemplateWithUrl.describe('A sha256sum-format list naming the file, e.g. HashiCorp\'s NAME_{version}_SHA256SUMS.'),
        signature: UrlTemplateWithUrl.describe('The detached binary signature of the list, e.g. its URL plus ".sig".'),
        key: ExtensionFile.describe('The public key the signature must verify against: an armored .asc or a binary .gpg keyring, relative to the manifest.'),
      })
      .strict()
      .describe('A checksum list upstream signs: bump verifies its signature with gpgv against `key` before taking a sha256 from it.'),
  ])
  .describe('Where `bakehouse bump` gets the pin.');

const Input = z
  .object({
    name: Name.describe('Identifies the input in the lock, build records and source overrides.'),
    kind: z.enum(ARCHIVE_KINDS),
    url: z
      .union([UrlTemplate, z.partialRecord(Arch, UrlTemplate)])
      .describe('One template for every arch, or one URL per arch. {version} is the version the lock pins for this input.'),
    versionFrom: z
      .object({
        source: VersionSource,
        range: z.string().optional().describe('A semver range the version must satisfy; "{line}" stands for the image\'s line, e.g. "~{line}".'),
        minorFrom: z
          .object({ url: UrlTemplate.describe("Expanded with the image's version as {version}.") })
          .strict()
          .optional()
          .describe(
            "A file the extension's upstream publishes with each release, naming the version of this input it was released and tested with (containerd's script/setup/runc-version): the input stays within that version's MAJOR.MINOR, and within `range` too.",
          ),
      })
      .strict()
      .optional()
      .describe("The input's own upstream, when its version is not the extension's (runc in containerd)."),
    checksum: Checksum.default({ from: 'download' }),
    extract: z.array(Extract).min(1, 'at least one mapping from the archive into the image'),
  })
  .strict()
  .superRefine((input, ctx) => {
    input.extract.forEach((e, i) => {
      if (input.kind === 'file' && e.from !== undefined)
        ctx.addIssue({ code: 'custom', path: ['extract', i, 'from'], message: 'a "file" input has no "from": omit it' });
      if (input.kind !== 'file' && e.from === undefined)
        ctx.addIssue({ code: 'custom', path: ['extract', i, 'from'], message: 'the path inside the archive to take' });
    });
    if (input.kind === 'file' && input.extract.length !== 1)
      ctx.addIssue({ code: 'custom', path: ['extract'], message: 'a "file" input is installed at exactly one path' });
  });

const DebianPackage = z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, 'a Debian package name such as "podman"');

const Debian = z
  .object({
    suite: z.string().regex(/^[a-z][a-z0-9-]*$/, 'a Debian suite such as "trixie"'),
    mirror: z.url({ error: 'a Debian mirror URL such as "http://deb.debian.org/debian"' }).default('http://deb.debian.org/debian'),
    components: z.array(z.string()).min(1).default(['main']),
    packages: z.array(DebianPackage).min(1).describe('Installed with their whole dependency closure, as on an empty system.'),
    exclude: z.array(DebianPackage).default([]).describe('Packages left out of the closure (never needed at run time).'),
    versionOf: DebianPackage.optional().describe('The package whose version names the image; by default the first of "packages".'),
    prefix: ImagePath.optional().describe('Where the closure lives in the image; by default /usr/lib/bakehouse/NAME.'),
    export: z
      .array(
        z
          .object({
            from: z.string().regex(/^\/[^\0]*$/, 'an absolute path inside the closure, e.g. "/usr/bin/podman"'),
            to: ImagePath,
          })
          .strict(),
      )
      .min(1, 'at least one file to make visible outside the private prefix')
      .describe('Closure files linked into /usr (or /opt); "{triplet}" is the arch\'s multiarch directory (x86_64-linux-gnu, aarch64-linux-gnu). Nothing else leaves the prefix, so no library can shadow one of Flatcar.'),
    mountPoints: z
      .array(ImagePath)
      .default([])
      .describe('Empty directories made in the image (not links): paths a package mounts onto by a compiled-in name, which the kernel resolves without following links (liblxc\'s /usr/lib/{triplet}/lxc/rootfs).'),
  })
  .strict()
  .describe('A Debian package closure, relocated into a private prefix so it runs on any Flatcar.');

const UnitName = z
  .string()
  .regex(
    /^[A-Za-z0-9:_.@\\-]+\.(service|socket|timer|path|mount|automount|target|slice)$/,
    'a systemd unit name such as "containerd.service"',
  );

const UnitValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.string())]);
const UnitSections = z.record(
  z.string().regex(/^[A-Z][A-Za-z]*$/, 'a unit section such as "Unit", "Service" or "Install"'),
  z.record(z.string().regex(/^[A-Z][A-Za-z0-9]*$/, 'a unit directive such as "ExecStart"'), UnitValue),
);

const Enable = z.union([
  UnitName,
  z
    .object({
      unit: UnitName,
      target: UnitName.optional().describe(
        'The target whose drop-in gets Upholds=; by default multi-user.target for services, sockets.target for sockets, timers.target for timers.',
      ),
    })
    .strict(),
]);

export const FLATCAR_BUILTIN_PATTERN = /^(containerd-flatcar|docker-flatcar|flatcar-[a-z0-9-]+|oem-[a-z0-9-]+)$/;
/** Names Flatcar's post-install step fetches as update payloads (oem-ID.gz, flatcar-NAME.gz), each bound to one OS version. */
export const FLATCAR_PAYLOAD_NAME_PATTERN = /^(flatcar|oem)-[a-z0-9-]+$/;
const Builtin = z
  .string()
  .regex(FLATCAR_BUILTIN_PATTERN, "a Flatcar built-in image: containerd-flatcar, docker-flatcar, flatcar-NAME or oem-ID");

const Requirement = z.union([
  Name,
  z
    .object({ anyOf: z.array(z.string().min(1)).min(2, 'two or more alternatives; use a plain name for one') })
    .strict(),
]);

const RELEASE_EXTRA_KEYS = ['SYSEXT_ID', 'SYSEXT_NAME', 'SYSEXT_VERSION_ID', 'SYSEXT_HOME_URL'] as const;

const Release = z
  .object({
    id: z.enum(['flatcar', '_any']).default('flatcar'),
    compat: z
      .enum(['level', 'release'])
      .default('level')
      .describe(
        '"level" writes SYSEXT_LEVEL=1.0 (static binaries, survives OS updates); "release" writes VERSION_ID of the target Flatcar release. ' +
          'Extensions named flatcar-NAME or oem-ID must be "release": Flatcar delivers those with each OS update as signed payloads (bakehouse publish --payloads).',
      ),
    reloadManager: z.boolean().default(false).describe('Write EXTENSION_RELOAD_MANAGER=1 (systemd >= 255).'),
    scope: z.array(z.enum(['system', 'initrd', 'portable'])).min(1).optional(),
    extra: z.partialRecord(z.enum(RELEASE_EXTRA_KEYS), z.string().regex(/^[^\n"]*$/, 'a single line without quotes')).optional(),
  })
  .strict();

const Workload = z
  .object({
    units: z.array(UnitName).default([]).describe('Units that must be active after boot, in the VM.'),
    commands: z
      .array(z.string().min(1))
      .default([])
      .describe('Shell commands that must exit 0 in the VM: run containers, serve and reach a port. $BAKEHOUSE_TEST_IMAGE is a busybox image archive (OCI layout and docker-save) tagged localhost/busybox:testbed.'),
    ports: z
      .array(z.string().regex(/^[A-Za-z0-9._-]+$/, { error: 'a virtio-serial port name such as "org.qemu.guest_agent.0"' }))
      .default([])
      .describe('virtio-serial ports the VM offers the guest, such as a guest agent\'s.'),
  })
  .strict();

const BaseOverride = z
  .object({
    path: z.string().regex(/^\/(usr|opt)\/\S+$/, { error: 'an image path under /usr or /opt, such as "/usr/lib64/libfoo.so.1" (end it with "/" for everything below a directory)' }),
    reason: z.string().min(1, 'say why the image may change this part of Flatcar\'s /usr'),
  })
  .strict();
export type BaseOverride = z.output<typeof BaseOverride>;

const Smoke = z
  .object({
    units: z.array(UnitName).default([]).describe('Units that must be active after boot.'),
    commands: z.array(z.string().min(1)).default([]).describe('Shell commands that must exit 0 after boot.'),
    workload: Workload.prefault({}).describe('Checks that do the extension\'s job and need a real kernel (cgroup v2, containers, dm-verity): run by the VM testbed (`bakehouse test --vm`) after units and commands, skipped by the nspawn testbed.'),
  })
  .strict();

/** The catalog's groups, in the order it shows them. */
export const EXTENSION_CATEGORIES = ['container-runtimes', 'kubernetes', 'networking', 'languages', 'tools', 'oem'] as const;
export type ExtensionCategory = (typeof EXTENSION_CATEGORIES)[number];

export const Extension = z
  .object({
    $schema: z.string().optional(),
    name: Name.describe('Equals the package name and the image name.'),
    description: z.string().min(1),
    homepage: z.url({ error: 'a URL such as "https://containerd.io"' }),
    category: z
      .enum(EXTENSION_CATEGORIES, { error: `one of ${EXTENSION_CATEGORIES.map((c) => `"${c}"`).join(', ')}` })
      .default('tools')
      .describe('Where the catalog lists it.'),
    upstream: VersionSource.optional().describe(
      'Where `bakehouse versions` and `bump` find new versions. Without it, versions are set by hand with `bump --to`.',
    ),
    lines: z
      .array(z.string().regex(/^\d+\.\d+$/, 'a MAJOR.MINOR line such as "1.34"'))
      .min(1)
      .optional()
      .describe('Supported minor lines, each pinned to its latest patch and built as its own image version.'),
    lineSource: z
      .object({ type: z.literal('kubernetes-schedule') })
      .strict()
      .optional()
      .describe(
        "Instead of `lines`: upstream's support window decides them. `bakehouse bump` reads kubernetes/website's data/releases/schedule.yaml, adds a line once it is released and drops it after its end of life; the lock records the lines, so builds stay offline.",
      ),
    arch: z.array(Arch).min(1).default(['x86-64', 'arm64']),
    format: z.enum(IMAGE_FORMATS).default('squashfs'),
    inputs: z.array(Input).default([]),
    debian: Debian.optional(),
    files: z.string().default('files').describe('Directory (next to the manifest) copied into the image as-is.'),
    units: z.record(UnitName, UnitSections).default({}).describe('Units generated into /usr/lib/systemd/system.'),
    enable: z.array(Enable).default([]).describe('Units started through an Upholds= drop-in on their target.'),
    sysusers: z
      .array(z.string().regex(/^[ugmr]!?\s+\S+/, 'a sysusers.d line such as "g docker -"'))
      .default([]),
    tmpfiles: z
      .array(z.string().regex(/^[a-zA-Z][+!=~^-]*\s+\/\S*/, 'a tmpfiles.d line such as "d /var/lib/containerd 0711 - - -"'))
      .default([]),
    release: Release.prefault({}),
    requires: z.array(Requirement).default([]),
    conflicts: z
      .object({
        extensions: z.array(Name).default([]),
        builtins: z.array(Builtin).default([]),
      })
      .strict()
      .prefault({}),
    replaces: z
      .array(Builtin)
      .default([])
      .describe(
        "Flatcar built-ins this image is a drop-in for (e.g. docker-flatcar): `bakehouse lint` checks that its units keep every customization point the built-in offers (DOCKER_OPTS, CONTAINERD_CONFIG, socket names, the docker group…). Each must also be in conflicts.builtins.",
      ),
    overridesBase: z
      .array(BaseOverride)
      .default([])
      .describe("Paths where the image shadows Flatcar's own /usr on purpose (a base file, a library in a loader directory, a base symlink or directory replaced): `bakehouse lint` refuses any other, checked against the release's image contents list (`bakehouse flatcar contents`)."),
    smoke: Smoke.prefault({}),
  })
  .strict()
  .superRefine((ext, ctx) => {
    ext.inputs.forEach((input, i) => {
      for (const arch of ext.arch) {
        if (typeof input.url !== 'string' && !input.url[arch])
          ctx.addIssue({ code: 'custom', path: ['inputs', i, 'url', arch], message: `a URL for ${arch}, which "arch" lists` });
      }
    });
    if (ext.lines && ext.lineSource)
      ctx.addIssue({ code: 'custom', path: ['lineSource'], message: 'either "lines" or "lineSource": with a line source, bump finds the lines and the lock records them' });
    const seen = new Set<string>();
    ext.inputs.forEach((input, i) => {
      if (seen.has(input.name))
        ctx.addIssue({ code: 'custom', path: ['inputs', i, 'name'], message: `a unique input name ("${input.name}" is used twice)` });
      seen.add(input.name);
    });
    if (FLATCAR_PAYLOAD_NAME_PATTERN.test(ext.name) && (ext.release.compat !== 'release' || ext.release.id !== 'flatcar'))
      ctx.addIssue({
        code: 'custom',
        path: ['release', 'compat'],
        message: `"release" with id "flatcar": Flatcar installs ${ext.name} for exactly one OS version (VERSION_ID) and fetches it with each OS update as ${ext.name}.gz; name a version-independent extension without the flatcar-/oem- prefix`,
      });
    if (ext.conflicts.extensions.includes(ext.name))
      ctx.addIssue({ code: 'custom', path: ['conflicts', 'extensions'], message: 'other extensions; an extension cannot conflict with itself' });
    ext.requires.forEach((req, i) => {
      const names = typeof req === 'string' ? [req] : req.anyOf;
      const clash = names.find((n) => ext.conflicts.extensions.includes(n) || ext.conflicts.builtins.includes(n));
      if (clash && typeof req === 'string')
        ctx.addIssue({ code: 'custom', path: ['requires', i], message: `an extension not also listed in "conflicts" ("${clash}" is in both)` });
    });
    ext.replaces.forEach((builtin, i) => {
      if (!ext.conflicts.builtins.includes(builtin))
        ctx.addIssue({ code: 'custom', path: ['replaces', i], message: `a built-in also listed in conflicts.builtins: "${builtin}" must be masked where this image replaces it` });
    });
    for (const [i, e] of ext.enable.entries()) {
      const unit = typeof e === 'string' ? e : e.unit;
      if (typeof e === 'string' && !/\.(service|socket|timer|path)$/.test(unit))
        ctx.addIssue({ code: 'custom', path: ['enable', i], message: 'a service, socket, timer or path unit, or { unit, target } naming its target' });
    }
  });

/** What a contributor writes: defaults may be left out. */
export type ExtensionInput = z.input<typeof Extension>;
/** What tools work with: validated, defaults filled in. */
export type ExtensionManifest = z.output<typeof Extension>;
export type Input = ExtensionManifest['inputs'][number];
export type ExtractRule = Input['extract'][number];
export type ArchiveKind = Input['kind'];
export type ImageFormat = ExtensionManifest['format'];
export type UnitSections = z.output<typeof UnitSections>;
export type Requirement = ExtensionManifest['requires'][number];
export type DebianClosure = NonNullable<ExtensionManifest['debian']>;
