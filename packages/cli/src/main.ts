import { Command, CommanderError, Option } from 'commander';
import { ARCHES, IMAGE_FORMATS, ManifestError } from '@bakehouse/schema';
import { SQUASHFS_COMPRESSION_NAMES } from '@bakehouse/builder';
import { runBake } from './commands/bake.js';
import { runBuild } from './commands/build.js';
import { runBump } from './commands/bump.js';
import { runDoctor } from './commands/doctor.js';
import { runFlatcarContents, runFlatcarLatest, runFlatcarShow } from './commands/flatcar.js';
import { runInspect } from './commands/inspect.js';
import { runLint } from './commands/lint.js';
import { runList } from './commands/list.js';
import { runNew } from './commands/new.js';
import { runConvertTorcx } from './commands/convert-torcx.js';
import { runKeysExport, runKeysInit } from './commands/keys.js';
import { runPublish, runVerifyRelease } from './commands/publish.js';
import { runPull } from './commands/pull.js';
import { runTest } from './commands/test.js';
import { runVersions } from './commands/versions.js';
import { runVerify } from './commands/verify.js';
import { PAYLOAD_TRUST_MODEL, runPayloadBuild, runPayloadVerify } from './commands/payload.js';
import { runMirrorFlatcar } from './commands/mirror.js';

/** Errors whose message already says what is wrong and how to fix it: print them without a stack. */
const EXPECTED_ERRORS = new Set([
  'ClosureResolutionError',
  'DebExtractionError',
  'RelocationError',
  'ManifestError',
  'WorkspaceError',
  'PlanError',
  'FetchError',
  'UnsafeArchiveError',
  'ExtractError',
  'StageError',
  'LintError',
  'ImageError',
  'MissingToolError',
  'InspectError',
  'UpstreamError',
  'UpstreamSettingError',
  'BumpError',
  'FlatcarReleaseError',
  'DdiError',
  'DdiVerifyError',
  'BootTestError',
  'RootSpecError',
  'RootBuildError',
  'PublishError',
  'SigningError',
  'VerificationError',
  'RegistryError',
  'CatalogError',
  'ScaffoldError',
  'BakeError',
  'TorcxError',
  'PayloadError',
  'PayloadVerifyError',
  'MirrorError',
]);

export function createProgram(): Command {
  const program = new Command('bakehouse')
    .description('Build, check and inspect systemd-sysext images for Flatcar Container Linux.')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('build')
    .description('build extension images into each extension\'s dist/ (all extensions, or the one in the current directory, when no NAME is given)')
    .argument('[names...]', 'extensions to build')
    .addOption(new Option('--arch <arch>', 'architecture to build').choices([...ARCHES, 'all']).default('all').env('BAKEHOUSE_ARCH'))
    .addOption(new Option('--format <format>', 'image format, overriding the manifest').choices(IMAGE_FORMATS).env('BAKEHOUSE_FORMAT'))
    .addOption(new Option('--compression <compressor>', 'squashfs compressor: xz (default, smallest), zstd, or gzip (fastest to build; for iteration and tests, not releases)').choices(SQUASHFS_COMPRESSION_NAMES).env('BAKEHOUSE_COMPRESSION'))
    .addOption(new Option('--mirror <dir-or-url>', 'content-addressed mirror (<mirror>/sha256/<hex>) tried before upstream').env('BAKEHOUSE_MIRROR'))
    .addOption(new Option('--offline', 'use only the download cache and the mirror').env('BAKEHOUSE_OFFLINE'))
    .addOption(new Option('--cache-dir <dir>', 'download cache').env('BAKEHOUSE_CACHE_DIR'))
    .addOption(new Option('--sources <file>', 'JSON file overriding input URLs and pins (tests, air-gapped mirrors)').env('BAKEHOUSE_SOURCES'))
    .addOption(new Option('--flatcar-version <version>', 'target Flatcar release for release-pinned extensions').env('BAKEHOUSE_FLATCAR_VERSION'))
    .addOption(new Option('--max-unpacked-size <bytes>', 'bytes one input may unpack to (default: 100× its download, at least 256 MiB)').env('BAKEHOUSE_MAX_UNPACKED_SIZE'))
    .addOption(new Option('--sign-key <file-or-pkcs11-uri>', 'sign: build DDIs (erofs + dm-verity + signature) with this private key').env('BAKEHOUSE_SIGN_KEY'))
    .addOption(new Option('--sign-cert <file>', 'PEM certificate of the signing key').env('BAKEHOUSE_SIGN_CERT'))
    .addOption(new Option('--sign-key-source <source>', 'systemd-repart --private-key-source: file, engine:NAME or provider:NAME (for PKCS#11 URIs)').env('BAKEHOUSE_SIGN_KEY_SOURCE'))
    .option('--out <dir>', "write each extension's images to DIR/NAME/ instead of its dist/ (bench, tests, trial builds)")
    .option('--quiet', 'no progress display')
    .action(runBuild);

  program
    .command('lint')
    .description("validate every manifest and the relations between extensions, and check every image against Flatcar's own /usr")
    .option('--flatcar-contents <file>', "the target release's flatcar_production_image_contents.txt (default: the one `bakehouse flatcar contents` cached)")
    .addOption(new Option('--cache-dir <dir>', 'where `bakehouse flatcar contents` cached the list').env('BAKEHOUSE_CACHE_DIR'))
    .action(runLint);

  program
    .command('bake')
    .description('bake extension images into a copy of a Flatcar disk image (raw .bin, .bin.bz2 or qcow2), without root, loop devices or mounts')
    .argument('<disk>', 'the Flatcar disk image (flatcar_production_image.bin[.bz2] or .qcow2)')
    .argument('<images...>', 'EXT[=root|oem]: an extension name (its newest image in extensions/NAME/dist for the disk\'s architecture) or a .raw path; =oem keeps it on the OEM partition')
    .option('--out <file>', 'the baked disk (default: DISK with .baked before its extension); written atomically')
    .option('--sysupdate <base-url>', 'install systemd-sysupdate transfers following the release tree published at this URL (publish --base-url)')
    .option('--sysupdate-keyring <file>', 'the tree\'s bakehouse-pubring.gpg, installed as /etc/systemd/import-pubring.gpg')
    .option('--mask-builtins', 'mask the Flatcar built-ins an extension replaces (/etc/extensions/BUILTIN.raw -> /dev/null)')
    .option('--ignition <file>', 'a user Ignition config, baked as /oem/config.ign')
    .option('--verify-sig <file>', 'check Flatcar\'s detached signature of DISK first')
    .option('--keyring <file>', 'the key --verify-sig checks with (armored or binary)')
    .addOption(new Option('--verity-cert <file>', 'certificate of signed DDIs: they are verified against it, and it is installed into /etc/verity.d').env('BAKEHOUSE_SIGN_CERT'))
    .action(runBake);

  program
    .command('list')
    .description('table of extensions: version, compatibility, architectures')
    .option('--json', 'machine-readable output')
    .option('--graph', 'show what each extension requires and conflicts with')
    .action(runList);

  program.command('inspect').description('show the extension-release and file list read from an image').argument('<image>', 'a .raw image').option('--json', 'machine-readable output').action(runInspect);

  program
    .command('verify')
    .description('check a signed image (DDI) offline: its data against the dm-verity root hash, the signature with a certificate, and its extension-release')
    .argument('<image>', 'a .raw DDI built with --sign-key/--sign-cert')
    .requiredOption('--cert <file>', 'PEM certificate the image must be signed with (what hosts keep in /etc/verity.d/)')
    .option('--json', 'machine-readable output')
    .action(runVerify);

  program.command('doctor').description('check the host tools the builder needs').action(runDoctor);

  program
    .command('test')
    .description("boot each built image (this machine's arch) in a Flatcar-like testbed and run its smoke checks: systemd-nspawn by default, or with --vm a qemu VM with its own kernel that also runs the workload checks (all extensions, or the one in the current directory, when no NAME is given)")
    .argument('[names...]', 'extensions to test')
    .addOption(new Option('--flatcar-version <version>', 'VERSION_ID of the booted root (default: flatcar.json)').env('BAKEHOUSE_FLATCAR_VERSION'))
    .option('--vm', 'boot under a real kernel (qemu; KVM where it works, else TCG) and run the workload checks: containers, cgroup v2, dm-verity')
    .option('--vm-disk-size <MiB>', 'size of the VM\'s root disk (default 4096)')
    .option('--timeout <seconds>', 'bound on each boot, start to power-off (default 180, with --vm 600)')
    .addOption(new Option('--cache-dir <dir>', 'where the testbed root is cached').env('BAKEHOUSE_CACHE_DIR'))
    .action(runTest);

  const upstreamOption = () =>
    new Option('--upstream <name=url>', 'fetch from URL instead of an upstream site (github, github-api, k8s, docker); repeatable').argParser(collect).default([]);

  program
    .command('versions')
    .description('versions each input of an extension may take, newest first, and where they come from')
    .argument('<name>', 'an extension')
    .option('--json', 'machine-readable output')
    .option('--prereleases', 'include pre-releases')
    .addOption(upstreamOption())
    .action(runVersions);

  program
    .command('bump')
    .description("move extensions to upstream's newest versions: rewrites extension.lock.json and adds a changeset (without NAME: every extension with an upstream)")
    .argument('[names...]', 'extensions to bump')
    .option('--to <version>', 'this image version instead of the newest (required for extensions without an upstream)')
    .addOption(upstreamOption())
    .addOption(new Option('--cache-dir <dir>', 'download cache that bump verifies files into').env('BAKEHOUSE_CACHE_DIR'))
    .option('--quiet', 'no progress display')
    .option('--revision', 'a packaging-only change (units, files): keep the upstream versions and pins, add one to the packaging revision (VERSION.rN)')
    .option('-m, --message <text>', 'with --revision: what changed, for the changeset and changelog')
    .option('--line <line>', 'with --revision: only this line\'s image')
    .action(runBump);

  program
    .command('new')
    .description('scaffold extensions/NAME: manifest, pinned lock, files/, README with a Butane snippet, smoke check, and a changeset')
    .argument('<name>', 'the extension (and package, and image) name')
    .addOption(new Option('--from <kind>', 'where the contents come from: an upstream download, or a Debian package closure').choices(['url', 'deb']).default('url'))
    .option('--url <template>', 'url: the download, with {version} and {goarch}/{uname}/{arch}')
    .option('--version <version>', 'url: the upstream version to pin (without --github)')
    .option('--github <owner/repo>', 'url: GitHub project whose releases give the versions')
    .option('--binary <path>', 'url: the command\'s path inside the archive (default NAME)')
    .option('--package <name>', 'deb: a Debian package to take with its dependencies (repeatable; default NAME)', collect, [])
    .option('--suite <suite>', 'deb: the Debian suite', 'trixie')
    .option('--description <text>', 'one line saying what the image holds')
    .option('--homepage <url>', "the upstream project's home page")
    .option('--arch <arch>', 'x86-64 or arm64 (repeatable; default both)', collect, [])
    .addOption(upstreamOption())
    .addOption(new Option('--cache-dir <dir>', 'download cache that pins are verified into').env('BAKEHOUSE_CACHE_DIR'))
    .option('--quiet', 'no progress display')
    .action(runNew);

  program
    .command('convert-torcx')
    .description('convert a Torcx image into a new extension package under extensions/ (--package, the default) or straight into an image (--image)')
    .argument('<file>', 'the Torcx image, NAME:REF.torcx.tgz')
    .option('--name <name>', 'extension name (default: NAME from the file name)')
    .option('--version <version>', 'image version (default: REF from the file name, when it is a version)')
    .addOption(new Option('--arch <arch>', 'only for images without ELF binaries: their architecture').choices(ARCHES))
    .option('--package', 'write extensions/NAME: manifest, lock, files/, README and a changeset')
    .option('--image', 'build NAME-VERSION-ARCH.raw and its build record into --out')
    .option('--out <dir>', 'with --image: where the image goes', '.')
    .option('--description <text>', 'one line saying what the image holds')
    .option('--homepage <url>', "the software's home page")
    .addOption(new Option('--compression <compressor>', 'with --image: squashfs compressor').choices(SQUASHFS_COMPRESSION_NAMES).env('BAKEHOUSE_COMPRESSION'))
    .addOption(new Option('--cache-dir <dir>', 'with --image: the build cache').env('BAKEHOUSE_CACHE_DIR'))
    .action(runConvertTorcx);

  const flatcar = program.command('flatcar').description('the Flatcar release images are built for, kept in flatcar.json at the workspace root');
  flatcar
    .command('latest')
    .description("the channel's current Flatcar release, and the URL it was read from")
    .option('--channel <channel>', 'stable, beta, alpha or lts (default: flatcar.json\'s, else stable)')
    .option('--board <board>', 'amd64-usr or arm64-usr (default: flatcar.json\'s, else amd64-usr)')
    .option('--write', 'update flatcar.json to this release')
    .addOption(new Option('--upstream <name=url>', 'fetch from URL instead of https://{channel}.release.flatcar-linux.net (flatcar=URL; {channel} is replaced)').argParser(collect).default([]))
    .action(runFlatcarLatest);
  flatcar.command('show').description('the release flatcar.json names').action(runFlatcarShow);
  flatcar
    .command('contents')
    .description("fetch and cache the release's image contents list (every path of Flatcar's /usr), which `bakehouse lint` checks images against")
    .option('--version <version>', "the Flatcar release (default: flatcar.json's)")
    .option('--channel <channel>', "the release's channel (default: flatcar.json's)")
    .option('--board <board>', "amd64-usr or arm64-usr (default: flatcar.json's)")
    .addOption(new Option('--upstream <name=url>', 'fetch from URL instead of https://{channel}.release.flatcar-linux.net (flatcar=URL; {channel} is replaced)').argParser(collect).default([]))
    .addOption(new Option('--cache-dir <dir>', 'where the list is cached').env('BAKEHOUSE_CACHE_DIR'))
    .action(runFlatcarContents);
  program
    .command('publish')
    .description('publish built images (never builds): a signed, sysupdate-ready release tree (--out) and/or OCI artifacts (--oci)')
    .addHelpText('after', `\nWith --payloads: ${PAYLOAD_TRUST_MODEL}`)
    .argument('[names...]', 'extensions to publish (default: every extension with images in dist/)')
    .option('--out <dir>', 'release tree to write or update')
    .option('--base-url <url>', 'public URL the tree is served from (default: the previous tree\'s)')
    .option('--previous <dir-or-url>', 'tree to merge with (default: --out when it holds one); with a URL, --out receives a delta to upload')
    .option('--keep <n>', 'versions kept per extension and line', '3')
    .addOption(new Option('--key-id <id>', 'signing key in the keyring (needed when it holds several)').env('BAKEHOUSE_SIGNING_KEY_ID'))
    .option('--gnupg-home <dir>', 'keyring holding the signing key (default: $GNUPGHOME or ~/.gnupg; BAKEHOUSE_SIGNING_KEY overrides both)')
    .addOption(new Option('--verity-cert <file>', 'certificate the signed DDIs were built with (build --sign-cert): published in the tree, installed into /etc/verity.d/ by the Ignition snippets').env('BAKEHOUSE_SIGN_CERT'))
    .option('--no-catalog', 'skip the HTML catalog pages')
    .option('--from <dir>', "publish the images in DIR/NAME/ (bakehouse build --out DIR, or a release's tested images) instead of each extension's dist/")
    .option('--allow-overrides', 'also publish images built from source overrides (air-gapped sites that repackage upstream files); index.json and the catalog mark them')
    .addOption(new Option('--flatcar-version <version>', 'the Flatcar release this tree is for: release-pinned images must carry it as VERSION_ID (default: flatcar.json)').env('BAKEHOUSE_FLATCAR_VERSION'))
    .option('--require-tests', 'publish only images with a passing boot test record (NAME-VERSION-ARCH.test.json) of exactly their bytes')
    .option('--oci <registry/repository>', 'also push each image as an OCI artifact, tagged VERSION-ARCH and latest-ARCH')
    .option('--payloads', 'instead of the sysupdate tree: sign every release-pinned flatcar-NAME/oem-ID image as --out/flatcar/BOARD/VERSION/NAME.gz (Flatcar\'s release file server layout), with a Nebraska package and an Omaha response per OS version')
    .option('--payload-key <file>', 'with --payloads: RSA-2048 private key (PEM) whose public half your Flatcar build trusts; twice for two signatures (the last is the real key)', collect, [])
    .option('--bzip2', 'with --payloads: bzip2 payload operations where smaller')
    .option('--insecure', 'plain HTTP to the registry')
    .action(runPublish);

  program
    .command('verify-release')
    .description('check a release tree: every SHA256SUMS signature with gpgv and every image against its sha256')
    .argument('<dir>', 'a release tree')
    .option('--keyring <file>', 'binary public keyring to trust instead of the tree\'s own bakehouse-pubring.gpg')
    .option('--require-tests', 'fail when an image has no boot test record (they are listed as untested either way)')
    .action(runVerifyRelease);

  program
    .command('pull')
    .description('fetch an image pushed with publish --oci and verify its sha256')
    .argument('<reference>', 'REGISTRY/REPOSITORY:TAG, e.g. registry.example.org/sysext/docker:latest-x86-64')
    .option('--out <dir>', 'directory to write the .raw into', '.')
    .option('--insecure', 'plain HTTP to the registry')
    .action(runPull);

  const payload = program
    .command('payload')
    .description('Flatcar update payloads (CrAU, signed) of extension and OEM images, as update_engine and its post-install step fetch them')
    .addHelpText('after', `\n${PAYLOAD_TRUST_MODEL}`);
  payload
    .command('build')
    .description('sign IMAGE as the payload Flatcar requests under the output name: oem-ID.gz or flatcar-NAME.gz, for the Flatcar release in its VERSION_ID')
    .argument('<image>', 'a release-pinned .raw image whose extension-release name is the output name without .gz')
    .requiredOption('--key <file>', 'RSA-2048 private key (PEM); twice for two signatures, the last being the real key (signature version 2)', collect, [])
    .option('--bzip2', "store each 1 MiB chunk as Debian's bzip2 -9 output where that is smaller (REPLACE_BZ)")
    .requiredOption('-o, --output <file>', 'the payload: oem-ID.gz or flatcar-NAME.gz (not gzip, whatever the suffix says)')
    .option('--flatcar-version <version>', "refuse unless the image's VERSION_ID is this release")
    .addHelpText('after', `\n${PAYLOAD_TRUST_MODEL}`)
    .action(runPayloadBuild);
  payload
    .command('verify')
    .description("a host's checks in its order: magic and version, any valid signature, one extent per operation, each blob's sha256, the extracted image's sha256")
    .argument('<payload>', 'a payload (.gz)')
    .requiredOption('--pub <file>', "the public update key (PEM) the host trusts: its /usr/share/update_engine/update-payload-key.pub.pem")
    .option('-o, --output <image>', 'write the extracted image here when every check passes')
    .option('--json', 'machine-readable output')
    .addHelpText('after', `\n${PAYLOAD_TRUST_MODEL}`)
    .action(runPayloadVerify);

  program
    .command('mirror')
    .description("copy official release content for air-gapped sites")
    .command('flatcar')
    .description("copy one Flatcar release's OS payload and the named official flatcar-NAME.gz / oem-ID.gz payloads into TO/BOARD/VERSION/, verified, with a Nebraska package pointing at them; a second run downloads nothing it has")
    .requiredOption('--channel <channel>', 'stable, beta, alpha or lts (recorded with the mirror)')
    .requiredOption('--version <version>', 'the Flatcar release, e.g. 4230.2.1')
    .requiredOption('--board <board>', 'amd64-usr or arm64-usr')
    .requiredOption('--to <dir>', 'mirror directory (what Nebraska serves with -host-flatcar-packages, or any file server)')
    .requiredOption('--update-key <file>', "Flatcar's public update key (PEM), as the hosts' /usr/share/update_engine/update-payload-key.pub.pem holds it: every payload must verify with it")
    .requiredOption('--base-url <url>', 'where --to is served: the url of the Nebraska package')
    .option('--from <url-or-dir>', 'release server or a directory with its BOARD/VERSION/NAME layout (default https://update.release.flatcar-linux.net)')
    .option('--extensions <names>', 'official extension payloads, comma-separated: podman,python,… (flatcar-NAME.gz)')
    .option('--oems <ids>', 'official OEM payloads, comma-separated: azure,qemu,… (oem-ID.gz)')
    .addHelpText('after', `\n${PAYLOAD_TRUST_MODEL}`)
    .action(runMirrorFlatcar);

  const keys = program.command('keys').description('the gpg key that signs release trees');
  keys
    .command('init')
    .description('create a signing key without a passphrase, for unattended publishing')
    .option('--name <name>', 'user id name', 'Bakehouse release signing')
    .option('--email <email>', 'user id email', 'sysext@bakehouse.invalid')
    .addOption(new Option('--algorithm <algorithm>', 'key type').choices(['ed25519', 'rsa4096']).default('ed25519'))
    .option('--gnupg-home <dir>', 'keyring to create it in (default: $GNUPGHOME or ~/.gnupg)')
    .action(runKeysInit);
  keys
    .command('export')
    .description('print (or write) the public key: binary keyring by default, usable as /etc/systemd/import-pubring.gpg')
    .option('--key-id <id>', 'the key (default: the only secret key in the keyring)')
    .option('--gnupg-home <dir>', 'keyring (default: $GNUPGHOME or ~/.gnupg)')
    .option('--armor', 'ASCII-armored instead of binary')
    .option('--output <file>', 'write to FILE instead of stdout')
    .action(runKeysExport);
  return program;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export async function main(argv: string[]): Promise<number> {
  try {
    await createProgram().parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    const err = error as Error;
    process.stderr.write(`bakehouse: ${EXPECTED_ERRORS.has(err.name) || err instanceof ManifestError ? err.message : (err.stack ?? String(err))}\n`);
    return 1;
  }
}
