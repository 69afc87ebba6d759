import { EXTENSION_CATEGORIES, FLATCAR_BUILTIN_PATTERN, RELEASE_INDEX_FILE, type ExtensionCategory, type ExtensionManifest, type ReleaseIndex, type ReleaseIndexImage, type ReleaseIndexSnippet, type Requirement } from '@bakehouse/schema';
import { CatalogError } from './errors.js';
import { html, hrefOf, type Markup } from './html.js';

/** The catalog's stylesheet and script, by file name (see readCatalogAssets). */
export type CatalogAssets = Readonly<Record<string, string>>;

export interface CatalogInput {
  index: ReleaseIndex;
  /** Manifests of the published extensions; they add what index.json does not carry (anyOf requirements, units). */
  manifests: readonly ExtensionManifest[];
  /** The text of every snippet index.json lists, keyed by its tree-relative path. */
  snippets: ReadonlyMap<string, string>;
  assets: CatalogAssets;
}

/**
 * Extension names are [a-z0-9-] only, so a directory with a "." in its name can never collide
 * with an extension's directory. (A leading "_" would be dropped by Jekyll-based hosts.)
 */
export const ASSETS_DIR = 'catalog.assets';
const EXTENSION_NAME = /^[a-z0-9][a-z0-9-]*$/;

type IndexExtension = ReleaseIndex['extensions'][string];
type SnippetKind = ReleaseIndexSnippet['kind'];

/** Newest first; numeric runs compare as numbers (1.34.10 after 1.34.9), ties fall back to code points. */
const versionCollator = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' });
function compareVersionsDescending(a: string, b: string): number {
  return versionCollator.compare(b, a) || (a < b ? 1 : a > b ? -1 : 0);
}

const KIND_ORDER: readonly SnippetKind[] = ['butane', 'sysupdate-transfer', 'ignition', 'sysupdate-conf'];
const KIND_TEXT: Record<SnippetKind, { title: string; help: string; open: boolean }> = {
  butane: {
    title: 'Butane',
    help: 'Merge into your Butane config: the host downloads the image, checks its sha256, enables it and keeps it updated.',
    open: true,
  },
  'sysupdate-transfer': { title: 'systemd-sysupdate transfer', help: 'Keeps the image current with systemd-sysupdate (systemd 257 and newer).', open: true },
  ignition: { title: 'Ignition', help: 'The Butane snippet as Ignition JSON.', open: false },
  'sysupdate-conf': { title: 'systemd-sysupdate .conf', help: 'The same transfer for hosts whose systemd is older than 257.', open: false },
};

/**
 * Renders the catalog: path (relative to the release tree) → file content. Pure and
 * deterministic. Entries come in a safe write order: assets, then extension pages, and the
 * root index.html last, so a reader never follows a link to a page not yet written.
 */
export function renderCatalog(input: CatalogInput): Map<string, string> {
  const manifests = new Map(input.manifests.map((m) => [m.name, m]));
  const names = Object.keys(input.index.extensions).sort();
  const unsafe = names.find((name) => !EXTENSION_NAME.test(name));
  if (unsafe !== undefined)
    throw new CatalogError(
      `${RELEASE_INDEX_FILE}: extensions."${unsafe}" is not an extension name (lowercase letters, digits and "-"): fix the index, the catalog writes NAME/index.html`,
    );
  const assetQuery = assetVersions(input.assets);
  const files = new Map<string, string>();
  for (const [file, text] of Object.entries(input.assets).sort(([a], [b]) => (a < b ? -1 : 1))) files.set(`${ASSETS_DIR}/${file}`, text);
  for (const name of names) {
    const page = renderExtensionPage(name, input.index.extensions[name]!, manifests.get(name), input, new Set(names), assetQuery);
    files.set(`${name}/index.html`, page);
  }
  files.set('index.html', renderIndexPage(names, input.index, manifests, assetQuery));
  return files;
}

/** A query string per asset that changes with its content, so caches in front of the tree pick up new versions. */
function assetVersions(assets: CatalogAssets): Map<string, string> {
  return new Map(Object.entries(assets).map(([file, text]) => [file, `?v=${fnv1a(text)}`]));
}

/** FNV-1a: a short, stable content fingerprint for cache busting (not a security hash). */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0).toString(16).padStart(8, '0');
}

function layout(options: { title: string; root: string; assetQuery: Map<string, string>; body: Markup; footer: Markup }): string {
  const asset = (file: string) => `${options.root}${ASSETS_DIR}/${file}${options.assetQuery.get(file) ?? ''}`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${asset('catalog.css')}">
<script defer src="${asset('catalog.js')}"></script>
</head>
<body>
${options.body}
<footer>${options.footer}</footer>
</body>
</html>
`.text;
}

function footer(index: ReleaseIndex, root: string): Markup {
  const keys = index.publicKeys.map((key, i) => html`${i > 0 ? ', ' : ''}<a href="${root}${hrefOf(key)}">${key}</a>`);
  return html`<p>Every <code>SHA256SUMS</code> is signed${keys.length > 0 ? html`; public key: ${keys}` : ''}.
Machine-readable: <a href="${root}index.json">index.json</a>. Built with Bakehouse.</p>`;
}

/** The catalog's groups, in EXTENSION_CATEGORIES' order. */
const CATEGORY_TITLE: Record<ExtensionCategory, string> = {
  'container-runtimes': 'Container runtimes',
  kubernetes: 'Kubernetes',
  networking: 'Networking',
  languages: 'Languages',
  tools: 'Tools',
  oem: 'OEM (cloud and hypervisor agents)',
};

/** An extension's group: its manifest's, else index.json's (trees published before categories existed have none: "tools"). */
function categoryOf(name: string, index: ReleaseIndex, manifests: Map<string, ExtensionManifest>): ExtensionCategory {
  return manifests.get(name)?.category ?? index.extensions[name]?.category ?? 'tools';
}

function renderIndexPage(names: string[], index: ReleaseIndex, manifests: Map<string, ExtensionManifest>, assetQuery: Map<string, string>): string {
  const groups = EXTENSION_CATEGORIES.map((category) => ({ category, members: names.filter((name) => categoryOf(name, index, manifests) === category) })).filter((g) => g.members.length > 0);
  const sections = groups.map(
    ({ category, members }) => html`<section class="category" data-category="${category}" aria-labelledby="category-${category}">
<h2 id="category-${category}">${CATEGORY_TITLE[category]}</h2>
<ul class="cards">
${members.map((name) => renderCard(name, index.extensions[name]!, manifests.get(name)))}</ul>
</section>
`,
  );
  const count = (n: number) => `${n} extension${n === 1 ? '' : 's'}`;
  const body = html`<header>
<h1>Extensions for Flatcar Container Linux</h1>
<p>systemd-sysext images: add one to a host with its Butane snippet, keep it current with systemd-sysupdate.${
    index.baseUrl ? html` Served from <code>${index.baseUrl}</code>.` : ''
  }</p>
</header>
<main>
<div class="search" hidden>
<label for="search">Search</label>
<input id="search" type="search" placeholder="Name, description or version" autocomplete="off" spellcheck="false">
<p class="count" id="count" aria-live="polite" data-total="${names.length}">${count(names.length)}</p>
</div>
<div id="extensions">
${sections}</div>
<p class="empty" id="no-match" hidden>No extension matches your search.</p>
</main>`;
  return layout({ title: 'Flatcar extensions', root: '', assetQuery, body, footer: footer(index, '') });
}

function renderCard(name: string, ext: IndexExtension, manifest: ExtensionManifest | undefined): Markup {
  const versions = distinctVersions(ext.images);
  const arches = [...new Set(ext.images.map((i) => i.arch))].sort();
  const shown = versions.slice(0, 3);
  const haystack = [name, ext.description, ...versions, ...(ext.lines ?? []), ...arches, ...requirementNames(ext, manifest), ...ext.conflicts.extensions, ...ext.conflicts.builtins]
    .join(' ')
    .toLowerCase();
  return html`<li class="card" data-name="${name}" data-search="${haystack}">
<h3><a href="${hrefOf(name)}/index.html">${name}</a></h3>
<p class="description">${ext.description}</p>
<p class="meta">${
    versions.length === 0
      ? html`<span class="muted">no published images</span>`
      : html`${shown.map((v) => html`<span class="version">${v}</span> `)}${versions.length > shown.length ? html`<span class="muted">+${versions.length - shown.length} more</span> ` : ''}`
  }<span class="arches">${arches.join(' · ')}</span></p>
</li>
`;
}

function distinctVersions(images: readonly ReleaseIndexImage[]): string[] {
  return [...new Set(images.map((i) => i.version))].sort(compareVersionsDescending);
}

/** The manifest's requirements, or else index.json's, where publish writes { anyOf: [a, b] } as "a | b". */
function requirements(ext: IndexExtension, manifest: ExtensionManifest | undefined): Requirement[] {
  if (manifest) return manifest.requires;
  return ext.requires.map((text) => {
    const alternatives = text.split('|').map((n) => n.trim());
    return alternatives.length > 1 ? { anyOf: alternatives } : text;
  });
}

function requirementNames(ext: IndexExtension, manifest: ExtensionManifest | undefined): string[] {
  return requirements(ext, manifest).flatMap((r) => (typeof r === 'string' ? [r] : r.anyOf));
}

function renderExtensionPage(
  name: string,
  ext: IndexExtension,
  manifest: ExtensionManifest | undefined,
  input: CatalogInput,
  published: Set<string>,
  assetQuery: Map<string, string>,
): string {
  const link = (other: string) =>
    published.has(other)
      ? html`<a href="../${hrefOf(other)}/index.html">${other}</a>`
      : FLATCAR_BUILTIN_PATTERN.test(other)
        ? html`<code>${other}</code> <span class="muted">(Flatcar built-in)</span>`
        : html`<span>${other}</span>`;
  const requirement = (r: Requirement) => (typeof r === 'string' ? link(r) : html`one of ${r.anyOf.map((n, i) => html`${i > 0 ? ', ' : ''}${link(n)}`)}`);
  const requires = requirements(ext, manifest).map(requirement);
  const conflicts = [
    ...ext.conflicts.extensions.map((other) => html`<li>${link(other)} <span class="muted">(extension)</span></li>`),
    ...ext.conflicts.builtins.map((builtin) => html`<li><code>${builtin}</code> <span class="muted">(Flatcar built-in, masked: /etc/extensions/${builtin}.raw → /dev/null)</span></li>`),
  ];
  const units = manifest ? manifest.enable.map((e) => (typeof e === 'string' ? e : e.unit)) : [];
  const body = html`<header>
<p class="crumbs"><a href="../index.html">← All extensions</a></p>
<h1>${name}</h1>
<p class="description">${ext.description}</p>
${ext.homepage ? html`<p><a href="${ext.homepage}" rel="noopener noreferrer">${ext.homepage}</a></p>` : ''}
</header>
<main>
<section class="facts">
<dl>
${ext.lines && ext.lines.length > 0 ? html`<dt>Lines</dt><dd>${ext.lines.join(', ')} <span class="muted">(one sysupdate transfer per line, patch updates only)</span></dd>` : ''}
<dt>Requires</dt><dd>${requires.length > 0 ? html`<ul class="inline">${requires.map((r) => html`<li>${r}</li>`)}</ul>` : html`<span class="muted">nothing</span>`}</dd>
<dt>Conflicts</dt><dd>${conflicts.length > 0 ? html`<ul class="plain">${conflicts}</ul>` : html`<span class="muted">nothing</span>`}</dd>
${units.length > 0 ? html`<dt>Starts</dt><dd>${units.map((u, i) => html`${i > 0 ? ', ' : ''}<code>${u}</code>`)}</dd>` : ''}
</dl>
</section>
<section>
<h2>Versions</h2>
${renderImages(ext.images)}
</section>
${renderArchSwitch(ext.snippets)}
${renderSnippets(ext.snippets, input.snippets, (ext.lines ?? []).length > 0)}
</main>`;
  return layout({ title: `${name} · Flatcar extensions`, root: '../', assetQuery, body, footer: footer(input.index, '../') });
}

function renderImages(images: readonly ReleaseIndexImage[]): Markup {
  if (images.length === 0) return html`<p class="muted">No published images.</p>`;
  const sorted = [...images].sort((a, b) => compareVersionsDescending(a.version, b.version) || (a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : 0));
  const rows = sorted.map(
    (image) => html`<tr data-version="${image.version}" data-arch="${image.arch}">
<td class="nowrap">${image.version}${image.line ? html` <span class="muted">(${image.line})</span>` : ''}${image.overrides ? html` <span class="override" title="built from source overrides: ${image.overrides.join(', ')}">override build</span>` : ''}${
      image.endOfLife ? html` <span class="end-of-life" title="line ${image.line ?? ''} reached upstream's end of life on ${image.endOfLife}">end of life</span>` : ''
    }</td>
<td class="nowrap">${image.arch}</td>
<td>${compatibilityText(image.compatibility)}</td>
<td class="nowrap" title="${image.bytes} bytes">${formatBytes(image.bytes)}</td>
<td><code class="sha256">${image.sha256}</code></td>
<td class="nowrap"><a href="../${hrefOf(image.path)}" title="${image.path.split('/').pop()}" aria-label="download ${image.path.split('/').pop()}">download</a>${
      image.test ? html` · <a href="../${hrefOf(image.test.path)}" title="boot test record (${image.test.testbed})">boot test</a>` : html` · <span class="muted">untested</span>`
    }${image.sbom ? html` · <a href="../${hrefOf(image.sbom.path)}" class="sbom" type="application/spdx+json" title="SPDX 2.3 SBOM: inputs, Debian packages and their licenses" aria-label="SBOM of ${image.path.split('/').pop()}">SBOM</a>` : ''}</td>
</tr>
`,
  );
  const overridden = images.filter((i) => i.overrides);
  const notice =
    overridden.length > 0
      ? html`<p class="override-notice"><strong>Override builds:</strong> ${overridden.length === images.length ? 'these images were' : 'images marked “override build” were'} built from source overrides (files this site repackaged) instead of upstream's pinned files: ${[...new Set(overridden.flatMap((i) => i.overrides ?? []))].join(', ')}.</p>`
      : '';
  return html`${endOfLifeNotice(images)}${notice}<div class="table"><table class="images">
<thead><tr><th>Version</th><th>Arch</th><th>Runs on</th><th>Size</th><th>SHA-256</th><th>Image</th></tr></thead>
<tbody>
${rows}</tbody>
</table></div>`;
}

/** Hosts still on a line that upstream no longer supports: no more updates reach them, so they should move to a supported line. */
function endOfLifeNotice(images: readonly ReleaseIndexImage[]): Markup | '' {
  const ended = new Map(images.flatMap((i) => (i.endOfLife && i.line ? [[i.line, i.endOfLife] as const] : [])));
  if (ended.size === 0) return '';
  const lines = [...ended].map(([line, date]) => html`<li>${line}: end of life on ${date}</li>`);
  return html`<div class="end-of-life-notice" role="alert"><p><strong>End of life:</strong> upstream no longer supports these lines. Their images get no more updates, security fixes included; hosts on them should move to a supported line.</p><ul>${lines}</ul></div>`;
}

function compatibilityText(compatibility: ReleaseIndexImage['compatibility']): Markup {
  const os = compatibility.id === 'flatcar' ? 'Flatcar' : compatibility.id;
  if ('sysextLevel' in compatibility) return html`<span title="SYSEXT_LEVEL=${compatibility.sysextLevel}">${os}, any release</span>`;
  if ('versionId' in compatibility) return html`<span title="VERSION_ID=${compatibility.versionId}">${os} ${compatibility.versionId} only</span>`;
  return html`any OS`;
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Buttons that show one architecture's snippets at a time; without JavaScript every snippet stays visible. */
function renderArchSwitch(snippets: readonly ReleaseIndexSnippet[]): Markup | '' {
  const arches = [...new Set(snippets.flatMap((s) => (s.arch ? [s.arch] : [])))].sort();
  if (arches.length < 2) return '';
  const preferred = arches.includes('x86-64') ? 'x86-64' : arches[0];
  return html`<div class="arch-switch" role="group" aria-label="Architecture" data-default="${preferred}" hidden>
<span>Snippets for</span>${arches.map((arch) => html` <button type="button" data-arch="${arch}" aria-pressed="false">${arch}</button>`)}
</div>`;
}

function renderSnippets(snippets: readonly ReleaseIndexSnippet[], texts: ReadonlyMap<string, string>, hasLines: boolean): Markup[] {
  return KIND_ORDER.flatMap((kind) => {
    const ofKind = snippets.filter((s) => s.kind === kind).sort(compareSnippets);
    if (ofKind.length === 0) return [];
    const { title, help, open } = KIND_TEXT[kind];
    const blocks = ofKind.map((snippet, i) => {
      const file = snippet.path.split('/').pop()!;
      const id = `${kind}-${i}`;
      const text = texts.get(snippet.path);
      if (text === undefined) throw new CatalogError(`no text for the snippet ${snippet.path} that index.json lists: pass every listed snippet to renderCatalog`);
      const line = snippet.line ? `line ${snippet.line}` : hasLines ? 'newest of all lines' : '';
      const label = [line, snippet.arch ?? ''].filter(Boolean).join(' · ') || 'all architectures';
      return html`<figure class="snippet" data-kind="${kind}"${snippet.arch ? html` data-arch="${snippet.arch}"` : ''}${snippet.line ? html` data-line="${snippet.line}"` : ''}>
<figcaption><span>${label}</span> <a href="../${hrefOf(snippet.path)}">${file}</a> <button type="button" class="copy" data-copy="${id}" hidden>Copy</button></figcaption>
<pre><code id="${id}">${text}</code></pre>
</figure>
`;
    });
    return [
      html`<section class="snippets" data-kind="${kind}">
<details${open ? ' open' : ''}>
<summary><h2>${title}</h2></summary>
<p class="help">${help}</p>
${blocks}</details>
</section>
`,
    ];
  });
}

function compareSnippets(a: ReleaseIndexSnippet, b: ReleaseIndexSnippet): number {
  const byLine = compareVersionsDescending(a.line ?? '', b.line ?? '');
  if (byLine !== 0) return byLine;
  const [x, y] = [`${a.arch ?? ''}\0${a.path}`, `${b.arch ?? ''}\0${b.path}`];
  return x < y ? -1 : x > y ? 1 : 0;
}
