import { createHash, X509Certificate } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ddiToolsRoot, defaultCacheDir, verifyDdi } from '@bakehouse/builder';
import { runBakehouse, serveDirectory, startRegistry } from '@bakehouse/fixtures';
import { parseReleaseIndex, type ReleaseIndex } from '@bakehouse/schema';
import { openSigner, type Signer } from './gpg.js';
import { collectBuiltImages, type PublishExtension } from './images.js';
import { ANNOTATION, pullImage, pushImage } from './oci.js';
import { publishTree, type PublishOptions } from './tree.js';
import { verifyReleaseTree } from './verify.js';
import { buildTinyExtension } from './test-support/images.js';
import { testKeyring } from './test-support/keys.js';

const BASE = 'https://sysext.example.org/flatcar';
let root: string;
let keyring: Awaited<ReturnType<typeof testKeyring>>;
let signer: Signer;
let signing: { key: string; cert: string };
let otherCert: string;
/** One signed DDI of a files-only extension, built once. */
let signed: PublishExtension;

async function makeKey(name: string): Promise<{ key: string; cert: string }> {
  const pair = { key: path.join(root, `${name}.key`), cert: path.join(root, `${name}.crt`) };
  await execa('openssl', ['req', '-new', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', pair.key, '-out', pair.cert, '-days', '3650', '-subj', `/CN=${name}`]);
  return pair;
}

const derSha256 = (pem: Buffer | string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
const fileSha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'bakehouse-publish-verity-'));
  keyring = await testKeyring();
  signer = await openSigner({ gnupgHome: keyring.home, env: {} });
  signing = await makeKey('bakehouse-verity-test');
  ({ cert: otherCert } = await makeKey('someone-else'));
  // The tools root that runs systemd-repart is cached; a first run builds it with mmdebstrap (a minute or two).
  await ddiToolsRoot(defaultCacheDir());
  signed = await buildTinyExtension(path.join(root, 'ext'), { name: 'sealed', signing }, [{ version: '1.0.0' }]);
}, 600_000);
afterAll(async () => {
  await signer?.close();
  await keyring?.close();
  await rm(root, { recursive: true, force: true });
});

function publish(options: Partial<PublishOptions> & Pick<PublishOptions, 'outDir' | 'extensions'>) {
  return publishTree({ signer, baseUrl: BASE, ...options });
}

async function readIndex(dir: string): Promise<ReleaseIndex> {
  return parseReleaseIndex(await readFile(path.join(dir, 'index.json'), 'utf8'), 'index.json');
}

describe('publishing signed DDIs', () => {
  it('publishes the signing certificate, lists it in index.json and installs it into /etc/verity.d/ with Ignition', async () => {
    const out = path.join(root, 'tree');
    const plain = await buildTinyExtension(path.join(root, 'ext'), { name: 'plain' }, [{ version: '2.0.0' }]);
    await publish({ outDir: out, extensions: [signed, plain], verityCertificate: signing.cert });

    const index = await readIndex(out);
    const fingerprint = derSha256(await readFile(signing.cert));
    const image = index.extensions.sealed!.images[0]!;
    const record = JSON.parse(await readFile(path.join(signed.distDir, 'sealed-1.0.0-x86-64.json'), 'utf8'));
    expect(image).toMatchObject({ format: 'ddi', path: 'sealed/sealed-1.0.0-x86-64.raw', verity: record.verity });
    expect(image.verity!.certificateSha256).toBe(fingerprint);
    expect(index.extensions.plain!.images[0]).not.toHaveProperty('verity');

    const certificateFile = `bakehouse-verity-${fingerprint.slice(0, 16)}.crt`;
    const published = await readFile(path.join(out, certificateFile));
    expect(index.verityCertificates).toEqual([{ path: certificateFile, sha256: fileSha256(published), certificateSha256: fingerprint }]);
    expect(published.toString()).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]*-----END CERTIFICATE-----\n$/);
    // The certificate in the tree is the one that verifies the published image (dm-verity root hash and PKCS#7 signature).
    await expect(verifyDdi(path.join(out, image.path), path.join(out, certificateFile))).resolves.toMatchObject({ name: 'sealed', certificateSha256: fingerprint, rootHash: image.verity!.rootHash });
    // The signed global SHA256SUMS vouches for the certificate.
    expect((await readFile(path.join(out, 'SHA256SUMS'), 'utf8')).split('\n')).toContain(`${fileSha256(published)}  ${certificateFile}`);
    await execa('sha256sum', ['--check', '--strict', 'SHA256SUMS'], { cwd: out });
    await expect(verifyReleaseTree(out)).resolves.toMatchObject({ images: expect.arrayContaining([certificateFile, image.path]) });

    // The DDI keeps the image naming and sysupdate pattern of every other image.
    expect((await readFile(path.join(out, 'sealed/sealed.transfer'), 'utf8')).split('\n')).toContain('MatchPattern=sealed-@v-%a.raw');

    const ignition = JSON.parse(await readFile(path.join(out, 'sealed/sealed-x86-64.ign'), 'utf8'));
    expect(ignition.storage.files).toContainEqual({
      path: `/etc/verity.d/${certificateFile}`,
      overwrite: true,
      contents: { source: `${BASE}/${certificateFile}`, verification: { hash: `sha256-${fileSha256(published)}` } },
      mode: 0o644,
    });
    await execa('ignition-validate', [path.join(out, 'sealed/sealed-x86-64.ign')]);
    const butane = await readFile(path.join(out, 'sealed/sealed-x86-64.bu'), 'utf8');
    expect(butane).toContain(`path: /etc/verity.d/${certificateFile}`);
    expect(butane).toContain(`hash: sha256-${fileSha256(published)}`);
    const plainIgnition = await readFile(path.join(out, 'plain/plain-x86-64.ign'), 'utf8');
    expect(plainIgnition).not.toContain('/etc/verity.d');

    // Publishing again changes nothing; the certificate may come as DER too (normalised to the same PEM).
    const der = path.join(root, 'cert.der');
    await writeFile(der, new X509Certificate(await readFile(signing.cert)).raw);
    const again = await publish({ outDir: out, extensions: [signed, plain], verityCertificate: der });
    expect(again.written).toEqual([]);
  });

  it('refuses a DDI without its certificate, or with another one, and writes nothing', async () => {
    const out = path.join(root, 'refused');
    await expect(publish({ outDir: out, extensions: [signed] })).rejects.toThrow(
      /sealed\/sealed-1\.0\.0-x86-64\.raw is a signed DDI: publishing needs the certificate it was signed with.*Pass --verity-cert FILE \(or set BAKEHOUSE_SIGN_CERT\)/,
    );
    await expect(publish({ outDir: out, extensions: [signed], verityCertificate: otherCert })).rejects.toThrow(
      new RegExp(`sealed/sealed-1\\.0\\.0-x86-64\\.raw was signed with the certificate whose sha256 is ${derSha256(await readFile(signing.cert))}, but the verity certificate ${otherCert} is ${derSha256(await readFile(otherCert))}`),
    );
    const notACert = path.join(root, 'not-a-cert.pem');
    await writeFile(notACert, 'hello\n');
    await expect(publish({ outDir: out, extensions: [signed], verityCertificate: notACert })).rejects.toThrow(/not-a-cert\.pem is not an X\.509 certificate in PEM or DER/);
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
  });

  it('keeps the certificate of DDIs kept from a served previous tree, and drops it once no image needs it', async () => {
    const tree = path.join(root, 'previous');
    await publish({ outDir: tree, extensions: [signed], verityCertificate: signing.cert });
    const certificateFile = (await readIndex(tree)).verityCertificates![0]!.path;
    const server = await serveDirectory(tree);
    try {
      // A new plain image of another extension, no certificate given: the DDI and its certificate carry over into the delta.
      const other = await buildTinyExtension(path.join(root, 'ext'), { name: 'other' }, [{ version: '1.0.0' }]);
      const delta = path.join(root, 'delta');
      const result = await publish({ outDir: delta, extensions: [other], previous: server.url });
      expect(result.written).toContain(certificateFile);
      expect(await readFile(path.join(delta, certificateFile))).toEqual(await readFile(path.join(tree, certificateFile)));
      expect((await readIndex(delta)).verityCertificates!.map((c) => c.path)).toEqual([certificateFile]);
    } finally {
      await server.close();
    }

    // A plain rebuild that retires the signed version: the certificate leaves index.json, then the disk.
    const unsigned = await buildTinyExtension(path.join(root, 'ext-plain'), { name: 'sealed' }, [{ version: '1.1.0' }]);
    const result = await publish({ outDir: tree, extensions: [unsigned], keep: 1 });
    expect(result.removed).toEqual(expect.arrayContaining([certificateFile, 'sealed/sealed-1.0.0-x86-64.raw']));
    expect((await readIndex(tree)).verityCertificates).toBeUndefined();
    await expect(stat(path.join(tree, certificateFile))).rejects.toThrow(/ENOENT/);
    await verifyReleaseTree(tree);
  });

  it('verify-release catches a certificate in the tree that is not the one index.json names', async () => {
    const tree = path.join(root, 'swapped');
    await publish({ outDir: tree, extensions: [signed], verityCertificate: signing.cert });
    const index = await readIndex(tree);
    const entry = index.verityCertificates![0]!;
    const swapped = Buffer.from(new X509Certificate(await readFile(otherCert)).toString());
    await writeFile(path.join(tree, entry.path), swapped);
    // The signed SHA256SUMS no longer matches, and the certificate is not the one the DDI names.
    await expect(verifyReleaseTree(tree)).rejects.toThrow(new RegExp(`${entry.path} has sha256 ${fileSha256(swapped)}, but SHA256SUMS says ${entry.sha256}`));
  });

  it('pushes a DDI as an OCI artifact whose layer type says ddi and whose annotations name the root hash and certificate', async () => {
    const registry = await startRegistry();
    try {
      const [image] = await collectBuiltImages(signed);
      await pushImage(`http://${registry.host}/sysext/sealed`, image!.entry, image!.file);
      const { stdout } = await execa('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/sysext/sealed:1.0.0-x86-64`]);
      const manifest = JSON.parse(stdout);
      expect(manifest.layers[0]).toMatchObject({ mediaType: 'application/vnd.bakehouse.sysext.layer.v1.ddi', annotations: { 'org.opencontainers.image.title': 'sealed-1.0.0-x86-64.raw' } });
      expect(manifest.annotations).toMatchObject({ [ANNOTATION.verityRootHash]: image!.entry.verity!.rootHash, [ANNOTATION.verityCertificate]: derSha256(await readFile(signing.cert)) });
      const pulled = await pullImage(`http://${registry.host}/sysext/sealed:latest-x86-64`, path.join(root, 'pulled'));
      await expect(verifyDdi(pulled.file, signing.cert)).resolves.toMatchObject({ name: 'sealed' });
    } finally {
      await registry.close();
    }
  });

  it('bakehouse publish takes the certificate from --verity-cert or BAKEHOUSE_SIGN_CERT, and refuses without it', async () => {
    const ws = path.join(root, 'ws');
    const ext = path.join(ws, 'extensions/sealed');
    await mkdir(ext, { recursive: true });
    await writeFile(path.join(ws, 'pnpm-workspace.yaml'), 'packages:\n  - extensions/*\n');
    await writeFile(path.join(ext, 'package.json'), JSON.stringify({ name: 'sealed', version: '0.0.0', private: true, type: 'module' }));
    await writeFile(path.join(ext, 'extension.ts'), `export default { name: 'sealed', description: 'sealed for tests', homepage: 'https://example.org', arch: ['x86-64'] };\n`);
    await writeFile(path.join(ext, 'extension.lock.json'), JSON.stringify({ lockVersion: 1, images: [{ version: '1.0.0', inputs: {} }] }));
    await cp(signed.distDir, path.join(ext, 'dist'), { recursive: true });
    const out = path.join(root, 'cli-tree');
    const args = ['publish', '--out', out, '--base-url', BASE, '--gnupg-home', keyring.home];
    const env = { BAKEHOUSE_SIGN_CERT: '' };

    const refused = await runBakehouse(args, { cwd: ws, env });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/^bakehouse: sealed\/sealed-1\.0\.0-x86-64\.raw is a signed DDI: .*--verity-cert FILE/);
    const wrong = await runBakehouse([...args, '--verity-cert', otherCert], { cwd: ws, env });
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toMatch(/^bakehouse: sealed\/sealed-1\.0\.0-x86-64\.raw was signed with the certificate whose sha256 is/);
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);

    const published = await runBakehouse(args, { cwd: ws, env: { BAKEHOUSE_SIGN_CERT: signing.cert } });
    expect(published.exitCode, published.all).toBe(0);
    const certificateFile = `bakehouse-verity-${derSha256(await readFile(signing.cert)).slice(0, 16)}.crt`;
    expect(published.stdout).toContain(`wrote   ${certificateFile}`);
    const verified = await runBakehouse(['verify-release', out], { cwd: ws });
    expect(verified.exitCode, verified.all).toBe(0);
  });
});
