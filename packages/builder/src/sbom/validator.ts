import { createHash } from 'node:crypto';
import { access, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { extractDebs } from '../debian/extract.js';
import { fetchDownload, type FetchOptions } from '../fetch/index.js';
import { ownedName } from '../scratch.js';
import { MissingToolError } from '../tools.js';

/** main.go and the pinned Debian packages of SPDX's Go library; beside src/ and dist/ alike. */
const VALIDATOR_DIR = fileURLToPath(new URL('../../spdx-validator/', import.meta.url));

export class SpdxValidationError extends Error {
  override readonly name = 'SpdxValidationError';
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file} is not a valid SPDX 2.3 document: ${reason}`);
  }
}

interface PinnedDeb {
  package: string;
  version: string;
  url: string;
  sha256: string;
}

/**
 * Builds (once; cached in CACHE/tools/) `spdx-validate`: a small program around SPDX's own Go
 * library, github.com/spdx/tools-golang, from Debian trixie's golang-github-spdx-tools-golang-dev
 * (pinned in spdx-validator/sources.json), compiled offline by the host's `go` in GOPATH mode.
 * Returns the binary's path.
 */
export async function spdxValidator(fetchOptions: FetchOptions): Promise<string> {
  const goVersion = await goToolchain();
  const [mainGo, sources] = await Promise.all([readFile(path.join(VALIDATOR_DIR, 'main.go')), readFile(path.join(VALIDATOR_DIR, 'sources.json'), 'utf8')]);
  const debs = (JSON.parse(sources) as { debs: PinnedDeb[] }).debs;
  const key = createHash('sha256').update(mainGo).update(JSON.stringify(debs)).update(goVersion).digest('hex').slice(0, 16);
  const binary = path.join(fetchOptions.cacheDir, 'tools', `spdx-validate-${key}`);
  if (await access(binary).then(() => true, () => false)) return binary;

  const files = await Promise.all(debs.map((deb) => fetchDownload({ name: deb.package, url: deb.url, sha256: deb.sha256 }, fetchOptions)));
  const work = await mkdtemp(path.join(os.tmpdir(), ownedName('bakehouse-spdx-validator-')));
  try {
    await extractDebs(files, path.join(work, 'root'));
    const gopath = path.join(work, 'root/usr/share/gocode');
    const program = path.join(gopath, 'src/spdx-validate');
    await mkdir(program, { recursive: true });
    await writeFile(path.join(program, 'main.go'), mainGo);
    await mkdir(path.dirname(binary), { recursive: true });
    const partial = path.join(path.dirname(binary), ownedName(`.spdx-validate-${key}.partial-`));
    // GOPATH mode: Debian's -dev packages are source trees, not modules, and nothing may be downloaded.
    const built = await execa('go', ['build', '-trimpath', '-o', partial, '.'], {
      cwd: program,
      reject: false,
      all: true,
      env: { GOPATH: gopath, GO111MODULE: 'off', GOFLAGS: '', GOPROXY: 'off', GOCACHE: path.join(work, 'gocache'), CGO_ENABLED: '0' },
    });
    if (built.exitCode !== 0) throw new Error(`cannot build the SPDX validator with ${goVersion}:\n${built.all}`);
    await rename(partial, binary);
    return binary;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Not among the builder's HOST_TOOLS: builds never need it, only checking SBOMs does (setup.sh installs it with the test tools). */
const GO = { command: 'go', debianPackage: 'golang-go', versionArgs: ['version'], purpose: "build the SPDX validator (SPDX's Go library) that checks SBOMs" };

async function goToolchain(): Promise<string> {
  const result = await execa(GO.command, GO.versionArgs, { reject: false });
  if (result.exitCode !== 0 || typeof result.stdout !== 'string') throw new MissingToolError(GO);
  return result.stdout.trim();
}

/** Checks `file` with SPDX's Go library; throws SpdxValidationError with its reason when invalid. */
export async function validateSpdx(file: string, fetchOptions: FetchOptions): Promise<void> {
  const validator = await spdxValidator(fetchOptions);
  const result = await execa(validator, [file], { reject: false, all: true });
  if (result.exitCode !== 0) throw new SpdxValidationError(file, (result.all ?? '').trim().replace(`${file}: `, ''));
}
