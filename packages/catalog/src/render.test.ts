import { parseExtension, parseReleaseIndex, type ReleaseIndex } from '@bakehouse/schema';
import { beforeAll, describe, expect, it } from 'vitest';
import { CatalogError } from './errors.js';
import { ASSETS_DIR, renderCatalog, type CatalogAssets } from './render.js';
import { readCatalogAssets } from './write.js';

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);
const HOSTILE = `<script>alert("x")</script> & 'quotes'`;

function image(extension: string, version: string, arch: 'x86-64' | 'arm64', sha256: string, bytes: number) {
  return {
    extension,
    version,
    arch,
    format: 'squashfs',
    path: `${extension}/${extension}-${version}-${arch}.raw`,
    sha256,
    bytes,
    compatibility: { id: 'flatcar', sysextLevel: '1.0' },
    requires: [],
    conflicts: { extensions: [], builtins: [] },
  };
}

function sampleIndex(): ReleaseIndex {
  const text = JSON.stringify({
    indexVersion: 1,
    baseUrl: 'https://ext.example.org',
    publicKeys: ['bakehouse.pub.asc'],
    extensions: {
      tool: {
        description: HOSTILE,
        homepage: 'https://example.org/?a=1&b="2"',
        requires: ['runtime | containerd-flatcar'],
        conflicts: { extensions: ['other'], builtins: ['docker-flatcar'] },
        images: [image('tool', '1.9.0', 'x86-64', SHA_A, 1536), image('tool', '1.10.0+b1', 'x86-64', SHA_B, 52 * 1024 * 1024)],
        snippets: [
          { kind: 'butane', path: 'tool/tool-x86-64.bu', arch: 'x86-64' },
          { kind: 'sysupdate-transfer', path: 'tool/tool.transfer' },
        ],
      },
      runtime: { description: 'A runtime', requires: [], conflicts: { extensions: [], builtins: [] }, images: [], snippets: [] },
    },
  });
  return parseReleaseIndex(text, 'index.json');
}

const SNIPPETS = new Map([
  ['tool/tool-x86-64.bu', `hash: sha256-${SHA_B}\n</code></pre><script>alert(1)</script>\n`],
  ['tool/tool.transfer', '[Source]\nMatchPattern=tool-@v-%a.raw\n'],
]);

describe('renderCatalog', () => {
  let assets: CatalogAssets;
  beforeAll(async () => {
    assets = await readCatalogAssets();
  });

  it('writes the assets, one page per extension, and index.html last', () => {
    const files = renderCatalog({ index: sampleIndex(), manifests: [], snippets: SNIPPETS, assets });
    expect([...files.keys()]).toEqual([`${ASSETS_DIR}/catalog.css`, `${ASSETS_DIR}/catalog.js`, 'runtime/index.html', 'tool/index.html', 'index.html']);
  });

  it('escapes every text taken from the index and the snippets', () => {
    const files = renderCatalog({ index: sampleIndex(), manifests: [], snippets: SNIPPETS, assets });
    const page = files.get('tool/index.html')!;
    const index = files.get('index.html')!;
    for (const html of [page, index]) {
      expect(html).not.toContain('<script>alert');
      expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39;');
    }
    expect(page).toContain('&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).toContain('href="https://example.org/?a=1&amp;b=&quot;2&quot;"');
    // The only script element is the catalog's own.
    expect(page.match(/<script/g)).toHaveLength(1);
  });

  it('links relatively, encoding versions in file names, and loads nothing from the network', () => {
    const files = renderCatalog({ index: sampleIndex(), manifests: [], snippets: SNIPPETS, assets });
    const page = files.get('tool/index.html')!;
    expect(page).toContain('href="../tool/tool-1.10.0%2Bb1-x86-64.raw"');
    expect(page).toContain(`href="../${ASSETS_DIR}/catalog.css?v=`);
    expect(files.get('index.html')!).toContain('href="tool/index.html"');
    // Resources (not plain links) must come from the tree itself.
    for (const html of files.values()) expect(html).not.toMatch(/<(script|link|img|iframe)[^>]*(src|href)="([a-z]+:)?\/\//i);
  });

  it('lists versions newest first, with sizes and full sha256', () => {
    const page = renderCatalog({ index: sampleIndex(), manifests: [], snippets: SNIPPETS, assets }).get('tool/index.html')!;
    const versions = [...page.matchAll(/<tr data-version="([^"]+)"/g)].map((m) => m[1]);
    expect(versions).toEqual(['1.10.0+b1', '1.9.0']);
    expect(page).toContain('52.0 MiB');
    expect(page).toContain('title="1536 bytes">1.5 KiB');
    expect(page).toContain(`<code class="sha256">${SHA_B}</code>`);
  });

  it('shows requirements (one of several), conflicting extensions and masked built-ins', () => {
    const page = renderCatalog({ index: sampleIndex(), manifests: [], snippets: SNIPPETS, assets }).get('tool/index.html')!;
    expect(page).toMatch(/one of <a href="\.\.\/runtime\/index\.html">runtime<\/a>, <code>containerd-flatcar<\/code>/);
    expect(page).toContain('<span>other</span> <span class="muted">(extension)</span>');
    expect(page).toContain('/etc/extensions/docker-flatcar.raw → /dev/null');
  });

  it('takes requirements and started units from the manifest when there is one', () => {
    const manifest = parseExtension(
      { name: 'tool', description: 'd', homepage: 'https://example.org', requires: [{ anyOf: ['runtime', 'other-runtime'] }], enable: ['tool.service'] },
      'tool/extension.ts',
    );
    const page = renderCatalog({ index: sampleIndex(), manifests: [manifest], snippets: SNIPPETS, assets }).get('tool/index.html')!;
    expect(page).toContain('one of <a href="../runtime/index.html">runtime</a>, <span>other-runtime</span>');
    expect(page).toContain('<dt>Starts</dt><dd><code>tool.service</code></dd>');
  });

  it('makes the search text from names, descriptions, versions and relations', () => {
    const index = renderCatalog({ index: sampleIndex(), manifests: [], snippets: SNIPPETS, assets }).get('index.html')!;
    const search = index.match(/data-name="tool" data-search="([^"]*)"/)![1]!;
    for (const word of ['tool', '1.10.0+b1', '1.9.0', 'x86-64', 'runtime', 'docker-flatcar']) expect(search).toContain(word);
  });

  it('is deterministic: the same input renders the same bytes', () => {
    const render = () => [...renderCatalog({ index: sampleIndex(), manifests: [], snippets: SNIPPETS, assets })];
    expect(render()).toEqual(render());
  });

  it('refuses index keys that are not extension names, since they become directories', () => {
    const index = sampleIndex();
    index.extensions['../evil'] = index.extensions.runtime!;
    expect(() => renderCatalog({ index, manifests: [], snippets: SNIPPETS, assets })).toThrow(CatalogError);
    expect(() => renderCatalog({ index, manifests: [], snippets: SNIPPETS, assets })).toThrow(/extensions\."\.\.\/evil" is not an extension name/);
  });

  it('refuses to render a snippet it was given no text for', () => {
    expect(() => renderCatalog({ index: sampleIndex(), manifests: [], snippets: new Map(), assets })).toThrow(/tool\/tool-x86-64\.bu/);
  });
});
