import { HOST_TOOLS, probeTool, type ToolName } from '@bakehouse/builder';
import { printTable } from '../table.js';

export async function runDoctor(): Promise<void> {
  const statuses = await Promise.all((Object.keys(HOST_TOOLS) as ToolName[]).map((name) => probeTool(name)));
  printTable(
    ['tool', 'version', 'package', 'used to'],
    statuses.map(({ tool, version }) => [tool.command, version ?? 'MISSING', tool.debianPackage, tool.purpose]),
  );
  const missing = [...new Set(statuses.filter((s) => s.version === undefined).map((s) => s.tool.debianPackage))];
  if (missing.length) {
    process.stdout.write(`\nInstall what is missing: apt-get install ${missing.join(' ')}\n`);
    process.exitCode = 1;
  }
}
