import { Command, CommanderError, Option } from 'commander';
import { ARCHES, IMAGE_FORMATS, ManifestError } from '@bakehouse/schema';
import { runBuild } from './commands/build.js';
import { runBump } from './commands/bump.js';
import { runDoctor } from './commands/doctor.js';
import { runFlatcarLatest, runFlatcarShow } from './commands/flatcar.js';
import { runInspect } from './commands/inspect.js';
import { runLint } from './commands/lint.js';
import { runList } from './commands/list.js';
import { runVersions } from './commands/versions.js';

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
    .addOption(new Option('--mirror <dir-or-url>', 'content-addressed mirror (<mirror>/sha256/<hex>) tried before upstream').env('BAKEHOUSE_MIRROR'))
    .addOption(new Option('--offline', 'use only the download cache and the mirror').env('BAKEHOUSE_OFFLINE'))
    .addOption(new Option('--cache-dir <dir>', 'download cache').env('BAKEHOUSE_CACHE_DIR'))
    .addOption(new Option('--sources <file>', 'JSON file overriding input URLs and pins (tests, air-gapped mirrors)').env('BAKEHOUSE_SOURCES'))
    .addOption(new Option('--flatcar-version <version>', 'target Flatcar release for release-pinned extensions').env('BAKEHOUSE_FLATCAR_VERSION'))
    .option('--quiet', 'no progress display')
    .action(runBuild);

  program.command('lint').description('validate every manifest and the relations between extensions').action(runLint);

  program
    .command('list')
    .description('table of extensions: version, compatibility, architectures')
    .option('--json', 'machine-readable output')
    .option('--graph', 'show what each extension requires and conflicts with')
    .action(runList);

  program.command('inspect').description('show the extension-release and file list read from an image').argument('<image>', 'a .raw image').option('--json', 'machine-readable output').action(runInspect);

  program.command('doctor').description('check the host tools the builder needs').action(runDoctor);

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
    .action(runBump);

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
