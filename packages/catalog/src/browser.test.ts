import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { serveDirectory, type LoopbackServer } from '@bakehouse/fixtures';
import { RELEASE_INDEX_FILE, parseReleaseIndex, type ReleaseIndex } from '@bakehouse/schema';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSampleTree } from './sample.js';
import { writeCatalog } from './write.js';

interface Watched {
  page: Page;
  /** Console errors, uncaught exceptions and failed requests seen so far. */
  problems: string[];
  /** Every URL the page requested. */
  requests: string[];
}

describe('catalog in Chromium', () => {
  let tree: string;
  let index: ReleaseIndex;
  let server: LoopbackServer;
  let browser: Browser;
  let context: BrowserContext;

  beforeAll(async () => {
    tree = await mkdtemp(path.join(os.tmpdir(), 'catalog-browser-'));
    const sample = await writeSampleTree(tree, { sizeScale: 1 / 65536 });
    await writeCatalog({ treeDir: tree, ...sample });
    // What operators' tooling would do: read the published index back from disk.
    index = parseReleaseIndex(await readFile(path.join(tree, RELEASE_INDEX_FILE), 'utf8'), RELEASE_INDEX_FILE);
    server = await serveDirectory(tree);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
    context = await browser.newContext();
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.close();
    await rm(tree, { recursive: true, force: true });
  });

  async function open(url: string): Promise<Watched> {
    const page = await context.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`));
    page.on('request', (request) => requests.push(request.url()));
    const response = await page.goto(url, { waitUntil: 'load' });
    if (response) expect(response.status()).toBe(200);
    return { page, problems, requests };
  }

  const visibleCards = (page: Page) => page.locator('#extensions li.card:visible').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-name')));

  it('shows every extension on the index without errors, loading only from the tree', async () => {
    const { page, problems, requests } = await open(`${server.url}/index.html`);
    // Grouped by category, in the catalog's order, each group sorted by name.
    expect(await page.locator('#extensions .category > h2').allTextContents()).toEqual(['Container runtimes', 'Kubernetes', 'OEM (cloud and hypervisor agents)']);
    expect(await visibleCards(page)).toEqual(['containerd', 'docker', 'podman', 'kubernetes', 'oem-qemu']);
    expect(await page.locator('.category[data-category="oem"] li.card').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-name')))).toEqual(['oem-qemu']);
    expect(await page.locator('#count').textContent()).toBe('5 extensions');
    // The stylesheet applied: the search box is laid out as flex, not the default block.
    expect(await page.locator('.search').evaluate((el) => getComputedStyle(el).display)).toBe('flex');
    expect(problems).toEqual([]);
    expect(requests.filter((url) => !url.startsWith(`${server.url}/`))).toEqual([]);
    await page.close();
  });

  it('filters the list as the user types: names, descriptions and versions', async () => {
    const { page, problems } = await open(`${server.url}/index.html`);
    const search = page.locator('#search');
    await search.pressSequentially('kube');
    expect(await visibleCards(page)).toEqual(['kubernetes']);
    expect(await page.locator('#count').textContent()).toBe('1 of 5 extensions');
    // Groups with no match left are hidden, heading and all.
    expect(await page.locator('#extensions .category:visible > h2').allTextContents()).toEqual(['Kubernetes']);

    await search.fill('guest agent');
    expect(await visibleCards(page)).toEqual(['oem-qemu']);

    await search.fill('5.4.2+ds1');
    expect(await visibleCards(page)).toEqual(['podman']);

    // Relations are searchable too: who conflicts with the built-in containerd.
    await search.fill('containerd-flatcar');
    expect(await visibleCards(page)).toEqual(['containerd', 'docker', 'kubernetes']);

    await search.fill('no-such-thing');
    expect(await visibleCards(page)).toEqual([]);
    expect(await page.locator('#no-match').isVisible()).toBe(true);

    await search.fill('');
    expect(await visibleCards(page)).toHaveLength(5);
    expect(await page.locator('#no-match').isVisible()).toBe(false);

    // A search can be linked to.
    await page.goto(`${server.url}/index.html?q=${encodeURIComponent('docker engine')}`);
    expect(await page.locator('#search').inputValue()).toBe('docker engine');
    expect(await visibleCards(page)).toEqual(['docker']);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('opens an extension page from the index, with versions, sizes and sha256 from index.json', async () => {
    const { page, problems } = await open(`${server.url}/index.html`);
    await page.locator('a', { hasText: 'kubernetes' }).first().click();
    await page.waitForURL(`${server.url}/kubernetes/index.html`);
    const rows = await page.locator('table.images tbody tr').evaluateAll((trs) =>
      trs.map((tr) => ({ version: tr.getAttribute('data-version'), arch: tr.getAttribute('data-arch'), sha256: tr.querySelector('.sha256')!.textContent })),
    );
    const expected = index.extensions.kubernetes!.images.map((i) => ({ version: i.version, arch: i.arch, sha256: i.sha256 }));
    expect(rows).toHaveLength(expected.length);
    expect(rows).toEqual(expect.arrayContaining(expected));
    expect(rows.map((r) => r.version)).toEqual(['1.35.2', '1.35.2', '1.34.5', '1.34.5']);
    expect(await page.locator('.facts').textContent()).toMatch(/Requires\s*one of containerd, containerd-flatcar \(Flatcar built-in\)/);
    expect(problems).toEqual([]);
    await page.close();
  });

  it("shows the Butane snippet exactly as published, and its verification.hash is the image's sha256 in index.json", async () => {
    const { page, problems } = await open(`${server.url}/docker/index.html`);
    const docker = index.extensions.docker!;
    const butane = docker.snippets.find((s) => s.kind === 'butane' && s.arch === 'x86-64')!;
    const snippet = page.locator('figure.snippet[data-kind="butane"][data-arch="x86-64"]');
    const shown = await snippet.locator('code').textContent();
    expect(shown).toBe(await readFile(path.join(tree, butane.path), 'utf8'));

    const hash = shown!.match(/hash: sha256-([0-9a-f]{64})/)?.[1];
    const imageUrl = shown!.match(/source: (\S+\.raw)/)?.[1];
    const published = docker.images.find((i) => i.arch === 'x86-64' && imageUrl === `${index.baseUrl}/${i.path}`);
    expect(published).toBeDefined();
    expect(hash).toBe(published!.sha256);
    // And the table row for that image shows the same hash.
    expect(await page.locator(`tr[data-arch="x86-64"][data-version="${published!.version}"] .sha256`).textContent()).toBe(hash);
    // Masks for the conflicting built-ins are part of it.
    expect(shown).toContain('path: /etc/extensions/docker-flatcar.raw\n      target: /dev/null');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('copies a snippet to the clipboard with its button', async () => {
    const { page, problems } = await open(`${server.url}/kubernetes/index.html`);
    const transfer = index.extensions.kubernetes!.snippets.find((s) => s.kind === 'sysupdate-transfer' && s.line === '1.34')!;
    const figure = page.locator(`figure.snippet:has(a[href="../${transfer.path}"])`);
    await figure.locator('button.copy').click();
    await expect.poll(() => figure.locator('button.copy').textContent()).toBe('Copied');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(await readFile(path.join(tree, transfer.path), 'utf8'));
    expect(problems).toEqual([]);
    await page.close();
  });

  it('shows one architecture of snippets at a time', async () => {
    const { page, problems } = await open(`${server.url}/containerd/index.html`);
    const visibleArches = () => page.locator('figure.snippet[data-arch]:visible').evaluateAll((figs) => [...new Set(figs.map((f) => f.getAttribute('data-arch')))]);
    expect(await visibleArches()).toEqual(['x86-64']);
    await page.locator('.arch-switch button[data-arch="arm64"]').click();
    expect(await visibleArches()).toEqual(['arm64']);
    expect(await page.locator('.arch-switch button[data-arch="arm64"]').getAttribute('aria-pressed')).toBe('true');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('has no broken links: every link on every page resolves within the tree', async () => {
    const pages = ['index.html', ...Object.keys(index.extensions).map((name) => `${name}/index.html`)];
    const { page } = await open(`${server.url}/index.html`);
    const targets = new Set<string>();
    for (const relative of pages) {
      await page.goto(`${server.url}/${relative}`);
      const hrefs = await page.locator('a[href], link[href], script[src]').evaluateAll((els) => els.map((el) => (el as HTMLAnchorElement).href || (el as HTMLScriptElement).src));
      for (const href of hrefs) if (href.startsWith(server.url)) targets.add(href.replace(/[?#].*$/, ''));
    }
    const statuses = await Promise.all([...targets].map(async (url) => [url, (await fetch(url, { method: 'GET' })).status] as const));
    expect(statuses.filter(([, status]) => status !== 200)).toEqual([]);
    expect(targets.size).toBeGreaterThan(40);
    await page.close();
  });

  it('works from file:// too: styles, search and pages load without a server', async () => {
    const { page, problems } = await open(pathToFileURL(path.join(tree, 'index.html')).href);
    await page.locator('#search').fill('podman');
    expect(await visibleCards(page)).toEqual(['podman']);
    await page.locator('a', { hasText: 'podman' }).first().click();
    await page.waitForURL(/\/podman\/index\.html$/);
    expect(await page.locator('h1').textContent()).toBe('podman');
    expect(await page.locator('button.copy:visible').count()).toBeGreaterThan(0);
    expect(problems).toEqual([]);
    await page.close();
  });
});
