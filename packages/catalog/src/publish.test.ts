import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sha256File } from '@bakehouse/builder';
import { runBakehouse, serveDirectory, type LoopbackServer } from '@bakehouse/fixtures';
import { RELEASE_INDEX_FILE, parseReleaseIndex, type ReleaseIndex } from '@bakehouse/schema';
import { execa } from 'execa';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * End to end: a real (tiny) extension is built, signed and published with the `bakehouse` CLI,
 * which writes the catalog; Chromium then reads the published pages. The catalog package cannot
 * import @bakehouse/publish (publish depends on it), so the CLI's dist is the entry point.
 */
const BASE_URL = 'https://sysext.example.org/flatcar';
const MANIFEST = `export default {
  name: 'tiny',
  description: 'A tiny extension for the catalog test <b>not bold</b>',
  homepage: 'https://example.org/tiny',
  arch: ['x86-64', 'arm64'],
  conflicts: { builtins: ['docker-flatcar'] },
};
`;

describe('catalog published by bakehouse publish', () => {
  let scratch: string;
  let tree: string;
  let index: ReleaseIndex;
  let server: LoopbackServer;
  let browser: Browser;

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'catalog-publish-'));
    const workspace = path.join(scratch, 'ws');
    const extension = path.join(workspace, 'extensions/tiny');
    await mkdir(path.join(extension, 'files/usr/share/tiny'), { recursive: true });
    await writeFile(path.join(workspace, 'pnpm-workspace.yaml'), 'packages:\n  - extensions/*\n');
    await writeFile(path.join(extension, 'package.json'), '{ "name": "tiny", "version": "0.0.0", "private": true, "type": "module" }\n');
    await writeFile(path.join(extension, 'extension.ts'), MANIFEST);
    await writeFile(path.join(extension, 'extension.lock.json'), '{ "lockVersion": 1, "images": [ { "version": "1.2.3", "inputs": {} } ] }\n');
    await writeFile(path.join(extension, 'files/usr/share/tiny/hello.txt'), 'hello\n');
    const gnupgHome = path.join(scratch, 'gnupg');
    await mkdir(gnupgHome, { mode: 0o700 });
    await chmod(gnupgHome, 0o700);
    tree = path.join(scratch, 'tree');
    const env = { BAKEHOUSE_CACHE_DIR: path.join(scratch, 'cache') };
    try {
      for (const args of [
        ['build', 'tiny', '--arch', 'all', '--quiet'],
        ['keys', 'init', '--gnupg-home', gnupgHome],
        ['publish', '--out', tree, '--base-url', BASE_URL, '--gnupg-home', gnupgHome],
      ]) {
        const run = await runBakehouse(args, { cwd: workspace, env });
        expect(run.exitCode, `bakehouse ${args.join(' ')}:\n${run.all}`).toBe(0);
      }
    } finally {
      await execa('gpgconf', ['--homedir', gnupgHome, '--kill', 'all'], { reject: false });
    }
    index = parseReleaseIndex(await readFile(path.join(tree, RELEASE_INDEX_FILE), 'utf8'), RELEASE_INDEX_FILE);
    server = await serveDirectory(tree);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it("shows publish's Butane snippet, whose hash is the sha256 of the published image and of index.json", async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${server.url}/index.html`);
    expect(await page.locator('#extensions li.card').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-name')))).toEqual(['tiny']);
    await page.locator('a', { hasText: 'tiny' }).first().click();
    await page.waitForURL(`${server.url}/tiny/index.html`);
    expect(await page.locator('header .description').textContent()).toBe('A tiny extension for the catalog test <b>not bold</b>');

    for (const arch of ['x86-64', 'arm64'] as const) {
      const image = index.extensions.tiny!.images.find((i) => i.arch === arch)!;
      const butane = index.extensions.tiny!.snippets.find((s) => s.kind === 'butane' && s.arch === arch)!;
      await page.locator(`.arch-switch button[data-arch="${arch}"]`).click();
      const shown = await page.locator(`figure.snippet[data-kind="butane"][data-arch="${arch}"]:visible code`).textContent();
      expect(shown).toBe(await readFile(path.join(tree, butane.path), 'utf8'));
      expect(shown).toContain(`${BASE_URL}/${image.path}`);
      const hash = shown!.match(/hash: sha256-([0-9a-f]{64})/)?.[1];
      expect(hash).toBe(image.sha256);
      expect(hash).toBe(await sha256File(path.join(tree, image.path)));
      expect(await page.locator(`tr[data-arch="${arch}"] .sha256`).textContent()).toBe(hash);
    }
    expect(await page.locator('.facts').textContent()).toContain('/etc/extensions/docker-flatcar.raw → /dev/null');
    expect(problems).toEqual([]);
    await page.close();
  });

  it("links each image's SBOM, which the tree holds beside the image and the signed SHA256SUMS lists", async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/tiny/index.html`);
    const sums = await readFile(path.join(tree, 'SHA256SUMS'), 'utf8');
    for (const arch of ['x86-64', 'arm64'] as const) {
      const image = index.extensions.tiny!.images.find((i) => i.arch === arch)!;
      expect(image.sbom).toEqual({ path: `tiny/tiny-1.2.3-${arch}.spdx.json`, sha256: await sha256File(path.join(tree, `tiny/tiny-1.2.3-${arch}.spdx.json`)) });
      expect(sums).toContain(`${image.sbom!.sha256}  ${image.sbom!.path}\n`);
      const link = page.locator(`tr[data-arch="${arch}"] a.sbom`);
      expect(await link.textContent()).toBe('SBOM');
      const response = await page.request.get(new URL((await link.getAttribute('href'))!, page.url()).href);
      expect(response.status()).toBe(200);
      const sbom = (await response.json()) as { spdxVersion: string; packages: { SPDXID: string; checksums: { checksumValue: string }[] }[] };
      expect(sbom.spdxVersion).toBe('SPDX-2.3');
      expect(sbom.packages.find((p) => p.SPDXID === 'SPDXRef-Image')!.checksums[0]!.checksumValue).toBe(image.sha256);
    }
    await page.close();
  });
});
