import { describe, expect, it } from 'vitest';
import { parseExtension } from '@bakehouse/schema';
import { resolvePlan } from './plan.js';
import { parseExtensionRelease, renderExtensionRelease, renderGeneratedFiles, renderUnit } from './render.js';

describe('extension-release', () => {
  it('renders one KEY=value line per field, quoting only when needed', () => {
    const text = renderExtensionRelease([
      ['ID', 'flatcar'],
      ['SYSEXT_LEVEL', '1.0'],
      ['SYSEXT_SCOPE', 'system portable'],
    ]);
    expect(text).toBe('ID=flatcar\nSYSEXT_LEVEL=1.0\nSYSEXT_SCOPE="system portable"\n');
    expect(parseExtensionRelease(text)).toEqual({ ID: 'flatcar', SYSEXT_LEVEL: '1.0', SYSEXT_SCOPE: 'system portable' });
  });
});

describe('generated files', () => {
  const manifest = parseExtension(
    {
      name: 'demo',
      description: 'demo',
      homepage: 'https://example.org',
      units: {
        'demo.service': {
          Unit: { Description: 'Demo' },
          Service: { ExecStart: '/usr/bin/demo', Delegate: true, RestartSec: 5, Environment: ['A=1', 'B=2'] },
        },
      },
      enable: ['demo.service'],
      sysusers: ['g demo -'],
      tmpfiles: ['d /var/lib/demo 0750 - - -'],
      release: { compat: 'level' },
    },
    'demo.ts',
  );

  it('places the extension-release, units, Upholds drop-ins, sysusers and tmpfiles where systemd looks', () => {
    const files = renderGeneratedFiles(resolvePlan(manifest, { version: '1.0', inputs: {} }, { extensionDir: '/e', arch: 'x86-64' }));
    expect(Object.fromEntries(files)).toEqual({
      '/usr/lib/extension-release.d/extension-release.demo': 'ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\n',
      '/usr/lib/systemd/system/demo.service': '[Unit]\nDescription=Demo\n\n[Service]\nExecStart=/usr/bin/demo\nDelegate=yes\nRestartSec=5\nEnvironment=A=1\nEnvironment=B=2\n',
      '/usr/lib/systemd/system/multi-user.target.d/10-demo-demo.service.conf': '[Unit]\nUpholds=demo.service\n',
      '/usr/lib/sysusers.d/demo.conf': 'g demo -\n',
      '/usr/lib/tmpfiles.d/demo.conf': 'd /var/lib/demo 0750 - - -\n',
    });
  });

  it('renders sections in declaration order', () => {
    expect(renderUnit({ Socket: { ListenStream: '/run/x.sock' }, Install: { WantedBy: 'sockets.target' } })).toBe(
      '[Socket]\nListenStream=/run/x.sock\n\n[Install]\nWantedBy=sockets.target\n',
    );
  });
});
