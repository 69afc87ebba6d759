#!/usr/bin/env node
import { existsSync } from 'node:fs';

const entry = new URL('../dist/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('bakehouse: the CLI is not built yet; run `pnpm install` (which builds it) or `pnpm turbo build --filter=@bakehouse/cli`\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv);
