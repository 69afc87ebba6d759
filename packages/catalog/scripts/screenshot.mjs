// Renders the demo catalog (src/sample.ts) and saves a screenshot of one extension page with
// Chromium: docs/catalog.png at the repository root. Run `pnpm --filter @bakehouse/catalog
// screenshot`, which builds dist/ first. Deterministic input; the PNG changes only with the page.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { writeCatalog } from '../dist/index.js';
import { writeSampleTree } from '../dist/sample.js';

const REPO_ROOT = path.resolve(import.meta.dirname, '../../..');
const OUTPUT = path.join(REPO_ROOT, 'docs/catalog.png');
const PAGE = 'kubernetes/index.html';
const VIEWPORT = { width: 1100, height: 1000 };

const tree = await mkdtemp(path.join(os.tmpdir(), 'catalog-screenshot-'));
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
try {
  const sample = await writeSampleTree(tree);
  await writeCatalog({ treeDir: tree, ...sample });
  const page = await browser.newPage({ viewport: VIEWPORT, colorScheme: 'light' });
  await page.goto(pathToFileURL(path.join(tree, PAGE)).href);
  await page.screenshot({ path: OUTPUT });
  console.log(`${path.relative(REPO_ROOT, OUTPUT)}: ${(await stat(OUTPUT)).size} bytes`);
} finally {
  await browser.close();
  await rm(tree, { recursive: true, force: true });
}
