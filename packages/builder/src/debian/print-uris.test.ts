import { describe, expect, it } from 'vitest';
import { parsePrintUris } from './print-uris.js';

// Lines as apt 2.6 prints them for trixie, with apt's summary around them.
const OUTPUT = `The following NEW packages will be installed:
  libaudit1 libc6
Need to get 2907 kB of archives.
'http://deb.debian.org/debian/pool/main/g/glibc/libc6_2.41-12%2bdeb13u5_amd64.deb' libc6_2.41-12+deb13u5_amd64.deb 2850108 SHA256:${'a'.repeat(64)}
'http://deb.debian.org/debian/pool/main/a/audit/libaudit1_4.0.2-2%2bdeb13u1_amd64.deb' libaudit1_1%3a4.0.2-2+deb13u1_amd64.deb 57680 SHA256:${'B'.repeat(64)}
`;

describe('parsePrintUris', () => {
  it('reads package, version with epoch, architecture, url, sha256 and size, sorted by package', () => {
    expect(parsePrintUris(OUTPUT)).toEqual([
      {
        package: 'libaudit1',
        version: '1:4.0.2-2+deb13u1',
        architecture: 'amd64',
        url: 'http://deb.debian.org/debian/pool/main/a/audit/libaudit1_4.0.2-2%2bdeb13u1_amd64.deb',
        sha256: 'b'.repeat(64),
        size: 57680,
      },
      {
        package: 'libc6',
        version: '2.41-12+deb13u5',
        architecture: 'amd64',
        url: 'http://deb.debian.org/debian/pool/main/g/glibc/libc6_2.41-12%2bdeb13u5_amd64.deb',
        sha256: 'a'.repeat(64),
        size: 2850108,
      },
    ]);
  });

  it('refuses a hash that is not SHA256, naming the .deb', () => {
    const md5 = `'http://deb.debian.org/debian/pool/main/h/hello/hello_2.10-5_amd64.deb' hello_2.10-5_amd64.deb 53228 MD5Sum:${'c'.repeat(32)}`;

    expect(() => parsePrintUris(md5)).toThrow(/printed "MD5Sum:c+" for http:\/\/deb\.debian\.org\/debian\/pool\/main\/h\/hello\/hello_2\.10-5_amd64\.deb instead of a SHA256 sum/);
  });
});
