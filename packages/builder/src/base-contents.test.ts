import { describe, expect, it } from 'vitest';
import { FLATCAR_CONTENTS_FIXTURE, flatcarContentsList } from '@bakehouse/fixtures';
import { BaseContentsError, lintAgainstBase, parseImageContents, type ImagePath } from './base-contents.js';

const list = flatcarContentsList([...FLATCAR_CONTENTS_FIXTURE, { path: '/usr/share/doc', type: 'symlink', target: '../lib/doc' }]);
const base = parseImageContents(list, 'contents.txt');
const files = (...paths: string[]): ImagePath[] => paths.map((p) => ({ path: p, type: 'file' }));
const rules = (image: ImagePath[], overrides = []) => lintAgainstBase(image, base, overrides, '4230.2.1').map((p) => [p.rule, p.path]);

describe("Flatcar's image contents list", () => {
  it('reads the release format: types, link targets, the root, and only what the lines say', () => {
    expect(base.get('/')).toEqual({ type: 'dir' });
    expect(base.get('/usr/bin/sh')).toEqual({ type: 'symlink', target: 'bash' });
    expect(base.get('/lib64')).toEqual({ type: 'symlink', target: 'usr/lib64' });
    expect(base.get('/usr/lib64/libc.so.6')).toEqual({ type: 'file' });
    expect(base.get('/usr/sbin')).toEqual({ type: 'dir' });
    expect(base.size).toBe(FLATCAR_CONTENTS_FIXTURE.length + 1);
  });

  it('refuses what is not such a list, naming the file and line', () => {
    expect(() => parseImageContents(`${list}<html>502 Bad Gateway</html>\n`, 'contents.txt')).toThrow(/contents\.txt:23: not a line of Flatcar's image contents list/);
    expect(() => parseImageContents('', 'empty.txt')).toThrow(BaseContentsError);
    expect(() => parseImageContents(flatcarContentsList([{ path: '/', type: 'dir' }, { path: '/etc', type: 'dir' }]), 'etc-only.txt')).toThrow(/lists nothing under \/usr/);
  });
});

describe('lint against the base', () => {
  it('passes an image that only adds paths, in directories the base has', () => {
    expect(rules(files('/usr/bin/haproxy', '/usr/lib/systemd/system/haproxy.service', '/usr/lib/bakehouse/haproxy/usr/lib/x86_64-linux-gnu/libssl.so.3', '/usr/share/haproxy/haproxy.cfg'))).toEqual([]);
  });

  it('refuses a directory over a base symlink, also when the directory is only implied by a file below it', () => {
    expect(rules(files('/usr/share/doc/haproxy/README'))).toEqual([['base-symlink-replaced', '/usr/share/doc']]);
    expect(rules([{ path: '/usr/share/doc', type: 'dir' }])).toEqual([['base-symlink-replaced', '/usr/share/doc']]);
  });

  it('refuses a file over a base directory, and a directory over a base file', () => {
    expect(rules(files('/usr/sbin'))).toEqual([['base-type-changed', '/usr/sbin']]);
    expect(rules(files('/usr/bin/bash/wrapper'))).toEqual([['base-type-changed', '/usr/bin/bash']]);
  });

  it("refuses a file or symlink over one of Flatcar's own", () => {
    expect(rules(files('/usr/sbin/ip', '/usr/lib/systemd/system/systemd-timesyncd.service'))).toEqual([
      ['base-file-shadowed', '/usr/lib/systemd/system/systemd-timesyncd.service'],
      ['base-file-shadowed', '/usr/sbin/ip'],
    ]);
    expect(rules([{ path: '/usr/bin/python3', type: 'symlink' }])).toEqual([['base-file-shadowed', '/usr/bin/python3']]);
  });

  it("refuses a library where the host's loader looks, even a new one", () => {
    expect(rules(files('/usr/lib64/libfoo.so.1', '/usr/lib/libbar.so', '/usr/lib64/libssl.so.3'))).toEqual([
      ['base-library-shadowed', '/usr/lib/libbar.so'],
      ['base-library-shadowed', '/usr/lib64/libfoo.so.1'],
      ['base-file-shadowed', '/usr/lib64/libssl.so.3'],
    ]);
  });

  it('lets the manifest declare an override, exact or for a whole directory, and says how in the message', () => {
    const [problem] = lintAgainstBase(files('/usr/sbin/ip'), base, [], '4230.2.1');
    expect(problem!.message).toBe("/usr/sbin/ip: Flatcar 4230.2.1 ships this path; the image would replace the host's own; if this is on purpose, declare it in the manifest: overridesBase: [{ path: '/usr/sbin/ip', reason: '…' }]");
    const overrides = [
      { path: '/usr/sbin/ip', reason: 'a newer iproute2 on purpose' },
      { path: '/usr/lib64/', reason: 'a driver stack that must be found by the host loader' },
    ];
    expect(rules(files('/usr/sbin/ip', '/usr/lib64/libnvidia.so.1', '/usr/sbin/other'), overrides as never)).toEqual([]);
  });
});
