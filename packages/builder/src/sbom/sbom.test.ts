import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExtension, type Arch, type ExtensionLock, type LockedDeb } from '@bakehouse/schema';
import { fakeBinary, serveDirectory, sha256Of, writeTar, type LoopbackServer } from '@bakehouse/fixtures';
import { buildExtension } from '../build.js';
import { resolveClosure } from '../debian/resolve.js';
import { readRecord } from '../record.js';
import { createRequire } from 'node:module';
import { defaultCacheDir, fetchDownload } from '../fetch/index.js';
import { readCopyrights } from './copyright.js';
import { declaredLicense } from './dep5.js';
import { inputPurl, type SpdxDocument } from './spdx.js';
import { SpdxValidationError, validateSpdx } from './validator.js';

/** SPDX's own license expression parser (spdx-expression-parse), checking that licenseDeclared is an SPDX expression. */
const parseSpdxExpression = createRequire(import.meta.url)('spdx-expression-parse') as (expression: string) => unknown;
const EPOCH = 1_700_000_000;
/** The validator binary is cached with the user's downloads, so only a machine's first run builds it. */
const validatorCache = { cacheDir: defaultCacheDir() };
let work: string;
let site: LoopbackServer;
let cacheDir: string;
let tarballSha: string;
let closures: Record<Arch, LockedDeb[]>;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'sbom-test-'));
  cacheDir = path.join(work, 'cache');
  await mkdir(path.join(work, 'site'));
  await writeTar(path.join(work, 'site/greeter-1.2.tar.gz'), [{ name: 'greeter-1.2/greeter', mode: 0o755, content: fakeBinary('greeter') }], 'tar.gz');
  tarballSha = await sha256Of(path.join(work, 'site/greeter-1.2.tar.gz'));
  site = await serveDirectory(path.join(work, 'site'));
  const [amd64, arm64] = await Promise.all((['x86-64', 'arm64'] as const).map((arch) => resolveClosure({ suite: 'trixie', packages: ['hello'] }, arch, { workDir: path.join(work, 'apt') })));
  closures = { 'x86-64': amd64!, arm64: arm64! };
}, 120_000);
afterAll(async () => {
  await site?.close();
  await rm(work, { recursive: true, force: true });
});

function manifest() {
  return parseExtension(
    {
      name: 'greeter',
      description: 'an upstream tarball and a Debian closure',
      homepage: 'https://example.org',
      inputs: [{ name: 'greeter', kind: 'tar.gz', url: `${site.url}/greeter-{version}.tar.gz`, extract: [{ from: 'greeter-1.2/greeter', to: '/usr/bin/greeter' }] }],
      debian: { suite: 'trixie', packages: ['hello'], export: [{ from: '/usr/bin/hello', to: '/usr/bin/hello' }] },
    },
    'greeter/extension.ts',
  );
}

function lock(): ExtensionLock {
  return {
    lockVersion: 1,
    images: [{ version: '1.2', inputs: { greeter: { version: '1.2', sha256: { 'x86-64': tarballSha, arm64: tarballSha }, checksum: 'upstream' } }, debian: closures }],
  };
}

async function build(name: string, arches: Arch[]) {
  const distDir = path.join(work, name);
  await buildExtension(manifest(), lock(), path.join(work, 'ext'), { arches, compression: 'gzip', distDir, sourceDateEpoch: EPOCH, fetch: { cacheDir } });
  return distDir;
}

describe('the SBOM of a real build', () => {
  let distDir: string;
  const sbom = async (arch: Arch) => JSON.parse(await readFile(path.join(distDir, `greeter-1.2-${arch}.spdx.json`), 'utf8')) as SpdxDocument;
  const record = (arch: Arch) => readRecord(path.join(distDir, `greeter-1.2-${arch}.json`));

  beforeAll(async () => {
    distDir = await build('dist-a', ['x86-64', 'arm64']);
  }, 300_000);

  it('lies next to the image, and the record names its bytes', async () => {
    expect((await readdir(distDir)).filter((f) => f.endsWith('.spdx.json')).sort()).toEqual(['greeter-1.2-arm64.spdx.json', 'greeter-1.2-x86-64.spdx.json']);
    for (const arch of ['x86-64', 'arm64'] as const) {
      const { sbom: named } = await record(arch);
      expect(named).toEqual({ file: `greeter-1.2-${arch}.spdx.json`, sha256: await sha256Of(path.join(distDir, `greeter-1.2-${arch}.spdx.json`)) });
    }
  });

  it("passes SPDX's own validator (tools-golang)", async () => {
    for (const arch of ['x86-64', 'arm64'] as const) await validateSpdx(path.join(distDir, `greeter-1.2-${arch}.spdx.json`), validatorCache);
  }, 180_000);

  it('describes the image and agrees with the build record', async () => {
    for (const arch of ['x86-64', 'arm64'] as const) {
      const [doc, rec] = await Promise.all([sbom(arch), record(arch)]);
      expect(doc.creationInfo.created).toBe(new Date(EPOCH * 1000).toISOString().replace('.000Z', 'Z'));
      const image = doc.packages.find((p) => p.SPDXID === 'SPDXRef-Image')!;
      expect(image).toMatchObject({ name: 'greeter', versionInfo: '1.2', packageFileName: rec.image.file, checksums: [{ algorithm: 'SHA256', checksumValue: rec.image.sha256 }] });
      expect(doc.documentNamespace).toMatch(/^https:\/\/spdx\.bakehouse\.invalid\/greeter-1\.2-(x86-64|arm64)-[0-9a-f-]{36}$/);

      const input = doc.packages.find((p) => p.name === 'greeter' && p !== image)!;
      expect(input).toMatchObject({ versionInfo: '1.2', downloadLocation: rec.inputs[0]!.url, checksums: [{ algorithm: 'SHA256', checksumValue: tarballSha }] });
      expect(input.externalRefs?.[0]?.referenceLocator).toBe(`pkg:generic/greeter@1.2?download_url=${encodeURIComponent(rec.inputs[0]!.url)}`);

      const debArch = arch === 'x86-64' ? 'amd64' : 'arm64';
      const debs = doc.packages.filter((p) => p.SPDXID.startsWith('SPDXRef-Deb-'));
      expect(debs.map((p) => [p.name, p.versionInfo, p.downloadLocation, p.checksums[0]!.checksumValue])).toEqual(rec.debian!.map((d) => [d.package, d.version, d.url, d.sha256]));
      for (const deb of closures[arch]) {
        const pkg = debs.find((p) => p.name === deb.package)!;
        expect(pkg.externalRefs![0]!.referenceLocator).toBe(`pkg:deb/debian/${deb.package}@${encodeURIComponent(deb.version).replace(/%3A/g, ':')}?arch=${deb.architecture}`);
      }
      expect(debs.find((p) => p.name === 'hello')!.externalRefs![0]!.referenceLocator).toMatch(new RegExp(`^pkg:deb/debian/hello@[^?]+\\?arch=${debArch}$`));

      expect(doc.relationships).toEqual([
        { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: 'SPDXRef-Image' },
        { spdxElementId: 'SPDXRef-Image', relationshipType: 'GENERATED_FROM', relatedSpdxElement: input.SPDXID },
        ...debs.map((p) => ({ spdxElementId: 'SPDXRef-Image', relationshipType: 'CONTAINS', relatedSpdxElement: p.SPDXID })),
      ]);
    }
  });

  it("declares each package's license from its copyright file, NOASSERTION when that is free-form", async () => {
    const doc = await sbom('x86-64');
    const license = (name: string) => doc.packages.find((p) => p.name === name && p.SPDXID.startsWith('SPDXRef-Deb-'))!.licenseDeclared;
    // trixie's glibc copyright file is machine-readable (DEP-5); hello's and gcc's are prose.
    expect(license('hello')).toBe('NOASSERTION');
    expect(license('gcc-14-base')).toBe('NOASSERTION');
    const libc = license('libc6').split(' AND ');
    expect(libc.slice(0, 3)).toEqual(['LGPL-2.1-or-later', 'LGPL-2.0-or-later', 'LicenseRef-LGPL-2.1-or-later-with-link-exception']);
    expect(libc).toEqual(expect.arrayContaining(['GPL-2.0-or-later', 'BSL-1.0', 'LicenseRef-Carnegie', '(BSD-2-Clause OR GPL-2.0-only)']));
    expect(new Set(libc).size).toBe(libc.length);
    for (const pkg of doc.packages) expect(() => parseSpdxExpression(pkg.licenseDeclared === 'NOASSERTION' ? 'MIT' : pkg.licenseDeclared), pkg.name).not.toThrow();
    // Every LicenseRef used is defined, with the text the copyright file gives for it.
    const refs = doc.hasExtractedLicensingInfos ?? [];
    const used = doc.packages.flatMap((p) => p.licenseDeclared.match(/LicenseRef-[A-Za-z0-9.-]+/g) ?? []);
    expect(refs.map((r) => r.licenseId).sort()).toEqual([...new Set(used)].sort());
    expect(refs.find((r) => r.licenseId === 'LicenseRef-Carnegie')!.extractedText).toMatch(/Carnegie Mellon/);
  });

  it("gives a package whose doc directory links to another package's that package's copyright file", async () => {
    const debs = closures['x86-64'].filter((d) => d.package === 'libgcc-s1' || d.package === 'gcc-14-base');
    const files = await Promise.all(debs.map(async (d) => ({ name: d.package, file: await fetchDownload({ name: d.package, url: d.url, sha256: d.sha256 }, { cacheDir }) })));
    const copyrights = await readCopyrights(files);
    expect(copyrights.get('gcc-14-base')).toMatch(/GNU compiler/);
    expect(copyrights.get('libgcc-s1')).toBe(copyrights.get('gcc-14-base'));
  });

  it('is bit-identical when built again elsewhere', async () => {
    const again = await build('dist-b', ['x86-64']);
    expect(await readFile(path.join(again, 'greeter-1.2-x86-64.spdx.json'), 'utf8')).toBe(await readFile(path.join(distDir, 'greeter-1.2-x86-64.spdx.json'), 'utf8'));
    expect(await readFile(path.join(again, 'greeter-1.2-x86-64.json'), 'utf8')).toBe(await readFile(path.join(distDir, 'greeter-1.2-x86-64.json'), 'utf8'));
  }, 300_000);

  it('the validator rejects broken documents', async () => {
    const good = await readFile(path.join(distDir, 'greeter-1.2-x86-64.spdx.json'), 'utf8');
    const broken: [string, (doc: Record<string, unknown> & SpdxDocument) => void, RegExp][] = [
      ['a relationship to a package that is not there', (doc) => void doc.relationships.push({ spdxElementId: 'SPDXRef-Image', relationshipType: 'CONTAINS', relatedSpdxElement: 'SPDXRef-Deb-missing' }), /SPDXRef-Deb-missing|Deb-missing/],
      ['an identifier without SPDXRef-', (doc) => void (doc.packages[1]!.SPDXID = 'Input-greeter'), /SPDX identifier 'Input-greeter'/],
      ['filesAnalyzed as a string', (doc) => void ((doc.packages[0] as unknown as Record<string, unknown>).filesAnalyzed = 'false'), /cannot unmarshal string/],
      ['nothing described', (doc) => void (doc.relationships = doc.relationships.filter((r) => r.relationshipType !== 'DESCRIBES')), /describe|DESCRIBES/i],
      ['another SPDX version', (doc) => void (doc.spdxVersion = 'SPDX-2.2' as 'SPDX-2.3'), /SPDX-2\.2/],
    ];
    for (const [what, breakIt, reason] of broken) {
      const doc = JSON.parse(good) as Record<string, unknown> & SpdxDocument;
      breakIt(doc);
      const file = path.join(work, 'broken.spdx.json');
      await writeFile(file, JSON.stringify(doc));
      const failure = await validateSpdx(file, validatorCache).then(() => undefined, (error: unknown) => error);
      expect(failure, what).toBeInstanceOf(SpdxValidationError);
      expect((failure as SpdxValidationError).reason, what).toMatch(reason);
    }
  });
});

describe('declaredLicense (DEP-5)', () => {
  const dep5 = (body: string) => `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: demo\n\n${body}`;

  it('translates DEP-5 names and expressions to SPDX', () => {
    expect(declaredLicense(dep5('Files: *\nCopyright: 2024 A\nLicense: GPL-2+\n\nFiles: debian/*\nCopyright: 2024 B\nLicense: Expat\n'))?.expression).toBe('GPL-2.0-or-later AND MIT');
    expect(declaredLicense(dep5('Files: *\nCopyright: x\nLicense: LGPL-2.1 or BSD-3-clause\n'))?.expression).toBe('LGPL-2.1-only OR BSD-3-Clause');
    expect(declaredLicense(dep5('Files: *\nCopyright: x\nLicense: GPL-2+ or Artistic-2.0, and BSD-2-clause\n'))?.expression).toBe('(GPL-2.0-or-later OR Artistic-2.0) AND BSD-2-Clause');
    expect(declaredLicense(dep5('Files: *\nCopyright: x\nLicense: Apache-2.0 with LLVM exception\n'))?.expression).toBe('Apache-2.0 WITH LLVM-exception');
  });

  it('names licenses SPDX does not list as LicenseRefs, with their text', () => {
    const declared = declaredLicense(dep5('Files: *\nCopyright: x\nLicense: public-domain\n\nLicense: public-domain\n Anyone may use this.\n .\n No rights reserved.\n'));
    expect(declared).toEqual({ expression: 'LicenseRef-public-domain', extracted: [{ licenseId: 'LicenseRef-public-domain', name: 'public-domain', extractedText: 'Anyone may use this.\n\nNo rights reserved.' }] });
  });

  it('asserts nothing for a free-form copyright file', () => {
    expect(declaredLicense('This is the Debian prepackaged version of glibc.\n\nCopyright (C) 1991 Free Software Foundation\n')).toBeUndefined();
    expect(declaredLicense('Format: https://example.org/not-dep5\n\nFiles: *\nLicense: MIT\n')).toBeUndefined();
  });
});

describe('purls of upstream inputs', () => {
  it('uses pkg:github for GitHub release assets and pkg:generic otherwise', () => {
    expect(inputPurl({ name: 'containerd', version: '2.3.4', url: 'https://github.com/containerd/containerd/releases/download/v2.3.4/containerd-static-2.3.4-linux-amd64.tar.gz' })).toBe('pkg:github/containerd/containerd@v2.3.4');
    expect(inputPurl({ name: 'kubelet', version: '1.33.1', url: 'https://dl.k8s.io/release/v1.33.1/bin/linux/amd64/kubelet' })).toBe(`pkg:generic/kubelet@1.33.1?download_url=${encodeURIComponent('https://dl.k8s.io/release/v1.33.1/bin/linux/amd64/kubelet')}`);
  });
});

