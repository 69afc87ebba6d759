import { inspectImage } from '@bakehouse/builder';

export async function runInspect(image: string, flags: { json?: boolean }): Promise<void> {
  const info = await inspectImage(image);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    return;
  }
  process.stdout.write(`${image}: ${info.format}\n`);
  if (info.sourceOverrides)
    process.stdout.write(`\nOVERRIDE BUILD: ${info.sourceOverrides.join(', ')} came from source overrides, not the lock's pins; not a release build\n`);
  process.stdout.write(`\n${info.releaseFile}\n`);
  for (const [key, value] of Object.entries(info.extensionRelease)) process.stdout.write(`  ${key}=${value}\n`);
  process.stdout.write('\nfiles:\n');
  for (const f of info.files) process.stdout.write(`  ${f.mode.padStart(5)} ${String(f.size).padStart(10)}  ${f.path}${f.target ? ` -> ${f.target}` : ''}\n`);
}
