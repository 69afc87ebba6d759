import path from 'node:path';
import { directoryHandler, startServer, type LoopbackServer } from '@bakehouse/fixtures';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
};

/** Serves a release tree on loopback as a static web host would: with content types, which the fixture server leaves out. */
export function serveTree(root: string): Promise<LoopbackServer> {
  const files = directoryHandler(root);
  return startServer((req, res) => {
    const type = CONTENT_TYPES[path.extname(new URL(req.url ?? '/', 'http://x').pathname)];
    if (type) res.setHeader('content-type', type);
    return files(req, res);
  });
}
