import { createHash, X509Certificate } from 'node:crypto';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { sha256File } from '@bakehouse/builder';
import { parseReleaseIndex, parseTestRecord, RELEASE_INDEX_FILE } from '@bakehouse/schema';
import { VerificationError } from './errors.js';
import { openTreeSource } from './files.js';
import { signatureProblem } from './gpg.js';
import { PUBLIC_KEYRING, SHA256SUMS, SIGNATURE_SUFFIX } from './tree.js';

export interface VerifyOptions {
  /** A binary public keyring to trust instead of the one the tree publishes (pin the key you expect). */
  keyring?: string;
  /** An image without a passing boot test record is a problem, not only reported in `untested`. */
  requireTests?: boolean;
}

export interface VerifyReport {
  /** Tree-relative paths of the SHA256SUMS files whose signature checked out. */
  signatures: string[];
  /** Tree-relative paths of the images whose sha256 matched. */
  images: string[];
  /** Tree-relative paths of the images published without a boot test record. */
  untested: string[];
  /** Tree-relative paths of the images built from source overrides (published with --allow-overrides). */
  overrides: string[];
}

/**
 * Checks a release tree as a host would: every SHA256SUMS against its .gpg with gpgv, every
 * listed image against its sha256, and index.json against both. Throws a VerificationError listing every problem.
 */
export async function verifyReleaseTree(treeDir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const source = openTreeSource(treeDir);
  const indexText = await source.read(RELEASE_INDEX_FILE);
  if (!indexText) throw new VerificationError(`${path.join(treeDir, RELEASE_INDEX_FILE)} is missing: ${treeDir} is not a release tree`);
  const index = parseReleaseIndex(indexText.toString(), path.join(treeDir, RELEASE_INDEX_FILE));
  const keyring = path.resolve(options.keyring ?? path.join(treeDir, PUBLIC_KEYRING));
  if (!(await exists(keyring))) throw new VerificationError(`${keyring} is missing: the tree publishes no keyring to check signatures with`);

  const problems: string[] = [];
  const report: VerifyReport = { signatures: [], images: [], untested: [], overrides: [] };
  const checkedImages = new Map<string, string>();
  const checkSums = async (sumsPath: string): Promise<Map<string, string>> => {
    const sums = path.join(treeDir, sumsPath);
    const listed = new Map<string, string>();
    if (!(await exists(sums))) {
      problems.push(`${sumsPath} is missing`);
      return listed;
    }
    if (!(await exists(sums + SIGNATURE_SUFFIX))) problems.push(`${sumsPath}${SIGNATURE_SUFFIX} is missing`);
    else {
      const problem = await signatureProblem(keyring, sums, sums + SIGNATURE_SUFFIX);
      if (problem === undefined) report.signatures.push(sumsPath);
      else problems.push(`${sumsPath}${SIGNATURE_SUFFIX} is not a good signature of ${sumsPath} by the key in ${keyring} (${problem})`);
    }
    const dir = path.posix.dirname(sumsPath) === '.' ? '' : `${path.posix.dirname(sumsPath)}/`;
    for (const line of (await source.read(sumsPath))!.toString().split('\n').filter(Boolean)) {
      const match = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
      if (!match) {
        problems.push(`${sumsPath}: not a sha256sum line: ${line}`);
        continue;
      }
      const relative = dir + match[2]!;
      listed.set(relative, match[1]!);
      const actual = checkedImages.get(relative) ?? (await exists(path.join(treeDir, relative)) ? await sha256File(path.join(treeDir, relative)) : 'missing');
      checkedImages.set(relative, actual);
      if (actual === 'missing') problems.push(`${relative}, listed in ${sumsPath}, is missing`);
      else if (actual !== match[1]) problems.push(`${relative} has sha256 ${actual}, but ${sumsPath} says ${match[1]}`);
      // SBOMs are checked like every listed file, but they are not images.
      else if (!relative.endsWith('.spdx.json') && !report.images.includes(relative)) report.images.push(relative);
    }
    return listed;
  };

  const global = await checkSums(SHA256SUMS);
  // A DDI's certificate is what hosts trust: it must be in the tree, listed in the signed global SHA256SUMS, and be the certificate its entry names.
  const certificates = new Set<string>();
  for (const certificate of index.verityCertificates ?? []) {
    certificates.add(certificate.certificateSha256);
    if (global.get(certificate.path) !== certificate.sha256) {
      problems.push(`${RELEASE_INDEX_FILE} names the verity certificate ${certificate.path} (sha256 ${certificate.sha256}), but the global ${SHA256SUMS} lists ${global.get(certificate.path) ?? 'no such file'}`);
      continue;
    }
    const bytes = await source.read(certificate.path);
    const fingerprint = bytes ? certificateSha256(bytes) : undefined;
    if (fingerprint !== certificate.certificateSha256)
      problems.push(`${certificate.path} is ${fingerprint ? `the certificate ${fingerprint}` : 'not an X.509 certificate'}, but ${RELEASE_INDEX_FILE} says ${certificate.certificateSha256}`);
  }
  for (const [name, extension] of Object.entries(index.extensions)) {
    const own = await checkSums(`${name}/${SHA256SUMS}`);
    for (const image of extension.images) {
      if (own.get(image.path) !== image.sha256) problems.push(`${RELEASE_INDEX_FILE} names ${image.path} (sha256 ${image.sha256}), but ${name}/${SHA256SUMS} lists ${own.get(image.path) ?? 'no such file'}`);
      if (global.get(image.path) !== image.sha256) problems.push(`${RELEASE_INDEX_FILE} names ${image.path}, but the global ${SHA256SUMS} lists ${global.get(image.path) ?? 'no such file'}`);
      if (image.format === 'ddi' && !image.verity) problems.push(`${RELEASE_INDEX_FILE}: ${image.path} is a DDI without verity (rootHash, certificateSha256)`);
      if (image.verity && !certificates.has(image.verity.certificateSha256))
        problems.push(`${image.path} is signed with the certificate ${image.verity.certificateSha256}, which ${RELEASE_INDEX_FILE} does not list in verityCertificates`);
      if (image.overrides) report.overrides.push(image.path);
      if (image.sbom && global.get(image.sbom.path) !== image.sbom.sha256)
        problems.push(`${RELEASE_INDEX_FILE} names the SBOM ${image.sbom.path} (sha256 ${image.sbom.sha256}), but the global ${SHA256SUMS} lists ${global.get(image.sbom.path) ?? 'no such file'}`);
      if (!image.test) {
        report.untested.push(image.path);
        if (options.requireTests) problems.push(`${image.path} has no boot test record: it was published without evidence that these bytes booted`);
        continue;
      }
      // The record is evidence only when the signed global SHA256SUMS vouches for it and it names exactly this image's bytes.
      if (global.get(image.test.path) !== image.test.sha256) {
        problems.push(`${RELEASE_INDEX_FILE} names the test record ${image.test.path} (sha256 ${image.test.sha256}), but the global ${SHA256SUMS} lists ${global.get(image.test.path) ?? 'no such file'}`);
        continue;
      }
      const text = await source.read(image.test.path);
      if (!text) continue; // checkSums already reported it missing
      try {
        const test = parseTestRecord(text.toString(), image.test.path);
        if (test.image.sha256 !== image.sha256) problems.push(`${image.test.path} booted an image with sha256 ${test.image.sha256}, not ${image.path} (${image.sha256})`);
        else if (!test.ok) problems.push(`${image.test.path} records a failed boot test of ${image.path}`);
        else if (test.testbed !== image.test.testbed) problems.push(`${image.test.path} says testbed ${test.testbed}, ${RELEASE_INDEX_FILE} says ${image.test.testbed}`);
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
    for (const snippet of extension.snippets)
      if (!(await exists(path.join(treeDir, snippet.path)))) problems.push(`${RELEASE_INDEX_FILE} names ${snippet.path}, which is missing`);
  }
  if (problems.length) throw new VerificationError(`${treeDir}: ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  report.images.sort();
  report.untested.sort();
  report.overrides.sort();
  return report;
}

function certificateSha256(bytes: Buffer): string | undefined {
  try {
    return createHash('sha256').update(new X509Certificate(bytes).raw).digest('hex');
  } catch {
    return undefined;
  }
}

function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
