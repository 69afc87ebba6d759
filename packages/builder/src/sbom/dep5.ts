import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const SPDX_LICENSES = caseInsensitiveSet(require('spdx-license-ids') as string[]);
const SPDX_EXCEPTIONS = caseInsensitiveSet(require('spdx-exceptions') as string[]);

/** A license a copyright file names that the SPDX list lacks: SPDX wants its text in the document. */
export interface ExtractedLicense {
  licenseId: `LicenseRef-${string}`;
  name: string;
  extractedText: string;
}

/** What a machine-readable copyright file declares, as an SPDX license expression. */
export interface DeclaredLicense {
  expression: string;
  extracted: ExtractedLicense[];
}

/**
 * Reads a Debian copyright file in the machine-readable format (DEP-5, copyright-format 1.0):
 * the license expressions of its header and Files paragraphs, translated to SPDX. Returns
 * undefined for a free-form copyright file (no `Format:` naming copyright-format 1.0): its
 * license cannot be told without reading it, which is what NOASSERTION says.
 */
export function declaredLicense(copyright: string): DeclaredLicense | undefined {
  const paragraphs = parseParagraphs(copyright);
  const header = paragraphs[0];
  if (!header || !/copyright-format\/1\.0\/?$/.test(firstLine(header.get('format')) ?? '')) return undefined;

  const texts = new Map<string, string>();
  for (const paragraph of paragraphs.slice(1)) {
    const license = paragraph.get('license');
    const name = firstLine(license);
    if (name && !paragraph.has('files') && license!.includes('\n')) texts.set(name.toLowerCase(), license!.slice(license!.indexOf('\n') + 1));
  }

  // The package as a whole is under every license some of its files are under: one AND of them all.
  const terms = new Set<string>();
  const extracted = new Map<string, ExtractedLicense>();
  for (const paragraph of paragraphs) {
    if (paragraph !== header && !paragraph.has('files')) continue;
    const dep5 = firstLine(paragraph.get('license'));
    if (!dep5) continue;
    const expression = translateExpression(dep5, (name) => {
      const id = licenseRef(name);
      const text = texts.get(name.toLowerCase()) ?? inlineText(paragraph.get('license'));
      if (!extracted.has(id)) extracted.set(id, { licenseId: id, name, extractedText: text ?? `${name}: named by the package's copyright file, which gives no text for it.` });
      return id;
    });
    for (const term of andTerms(expression)) terms.add(term);
  }
  if (!terms.size) return undefined;
  const expression = terms.size === 1 ? [...terms][0]!.replace(/^\((.*)\)$/, '$1') : [...terms].join(' AND ');
  return { expression, extracted: [...extracted.values()].sort((a, b) => (a.licenseId < b.licenseId ? -1 : 1)) };
}

/** `A AND B` → [A, B]; anything with OR or parentheses stays one parenthesised term. */
function andTerms(expression: string): string[] {
  if (/[()]| OR /.test(expression)) return [`(${expression})`];
  return expression.split(' AND ');
}

/** DEP-5 short names whose SPDX identifier is spelled differently (the rest match the SPDX list case-insensitively). */
const DEP5_NAMES: Record<string, string> = {
  expat: 'MIT',
  'apache-2': 'Apache-2.0',
  'artistic-1': 'Artistic-1.0',
  'artistic-2': 'Artistic-2.0',
  'mpl-2': 'MPL-2.0',
  'cc0': 'CC0-1.0',
  zlib: 'Zlib',
};

/** GPL-2+ → GPL-2.0-or-later, LGPL-2.1 → LGPL-2.1-only, GFDL-1.3+ → GFDL-1.3-or-later. */
function gnuLicense(name: string): string | undefined {
  const match = /^(a?gpl|lgpl|gfdl)-(\d)(?:\.(\d))?(\+)?$/i.exec(name);
  if (!match) return undefined;
  const [, family, major, minor, later] = match;
  const id = `${family!.toUpperCase()}-${major}.${minor ?? '0'}-${later ? 'or-later' : 'only'}`;
  return SPDX_LICENSES.get(id.toLowerCase());
}

/** One DEP-5 license name as an SPDX identifier, or undefined when SPDX does not list it. */
function spdxIdentifier(name: string): string | undefined {
  const mapped = DEP5_NAMES[name.toLowerCase()];
  if (mapped) return mapped;
  return gnuLicense(name) ?? SPDX_LICENSES.get(name.toLowerCase());
}

/**
 * DEP-5 expressions: names joined by `or` and `and`, `with X exception`, and a comma that makes
 * what follows bind loosest (`A or B, and C` is `(A OR B) AND C`).
 */
function translateExpression(dep5: string, unknown: (name: string) => string): string {
  const groups = dep5.split(/,\s*/).map((group, i) => {
    const words = group.trim().split(/\s+/);
    if (i > 0 && /^(and|or)$/i.test(words[0] ?? '')) words.shift();
    return { joiner: i > 0 ? (/^or\b/i.test(group.trim()) ? 'OR' : 'AND') : '', words };
  });
  let result = '';
  for (const { joiner, words } of groups) {
    const terms: string[] = [];
    let name: string[] = [];
    const flush = () => {
      if (name.length) terms.push(licenseTerm(name, unknown));
      name = [];
    };
    for (const word of words) {
      if (/^(and|or)$/i.test(word)) {
        flush();
        terms.push(word.toUpperCase());
      } else name.push(word);
    }
    flush();
    const group = terms.join(' ');
    result = joiner ? `${parenthesised(result)} ${joiner} ${parenthesised(group)}` : group;
  }
  return result;
}

function parenthesised(expression: string): string {
  return expression.includes(' ') ? `(${expression})` : expression;
}

/** `GPL-2+ with OpenSSL exception` → a WITH expression when SPDX lists both, else one LicenseRef for the whole. */
function licenseTerm(words: string[], unknown: (name: string) => string): string {
  const whole = words.join(' ');
  const withAt = words.findIndex((w) => w.toLowerCase() === 'with');
  if (withAt > 0) {
    const license = spdxIdentifier(words.slice(0, withAt).join(' '));
    const exceptionWords = words.slice(withAt + 1);
    if (exceptionWords.at(-1)?.toLowerCase() === 'exception') exceptionWords.pop();
    const exception = SPDX_EXCEPTIONS.get(`${exceptionWords.join('-')}-exception`.toLowerCase()) ?? SPDX_EXCEPTIONS.get(exceptionWords.join('-').toLowerCase());
    if (license && exception) return `${license} WITH ${exception}`;
    return unknown(whole);
  }
  return (words.length === 1 ? spdxIdentifier(whole) : undefined) ?? unknown(whole);
}

function licenseRef(name: string): `LicenseRef-${string}` {
  return `LicenseRef-${name.replace(/\+/g, '-or-later').replace(/[^A-Za-z0-9.-]+/g, '-')}`;
}

/** The text given under a Files paragraph's License line, when it carries one. */
function inlineText(license: string | undefined): string | undefined {
  const at = license?.indexOf('\n') ?? -1;
  return at < 0 ? undefined : license!.slice(at + 1);
}

function firstLine(value: string | undefined): string | undefined {
  return value?.split('\n', 1)[0]?.trim() || undefined;
}

/**
 * deb822 paragraphs: `Field: value` lines, continuation lines starting with white space (a lone
 * `.` stands for an empty line), paragraphs separated by blank lines. Field names are lowercased.
 */
function parseParagraphs(text: string): Map<string, string>[] {
  const paragraphs: Map<string, string>[] = [];
  let current: Map<string, string> | undefined;
  let field: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (/^\s*$/.test(line)) {
      current = undefined;
      field = undefined;
    } else if (/^\s/.test(line)) {
      if (current && field) current.set(field, `${current.get(field)}\n${line.trim() === '.' ? '' : line.trim()}`);
    } else if (!line.startsWith('#')) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      if (!current) paragraphs.push((current = new Map()));
      field = line.slice(0, colon).trim().toLowerCase();
      current.set(field, line.slice(colon + 1).trim());
    }
  }
  return paragraphs;
}

function caseInsensitiveSet(ids: readonly string[]): Map<string, string> {
  return new Map(ids.map((id) => [id.toLowerCase(), id]));
}
