import { pullImage } from '@bakehouse/publish';

export async function runPull(reference: string, flags: { out: string; insecure?: boolean }): Promise<void> {
  const { file, sha256 } = await pullImage(reference, flags.out, {
    insecure: flags.insecure,
    username: process.env.BAKEHOUSE_REGISTRY_USER,
    password: process.env.BAKEHOUSE_REGISTRY_PASSWORD,
  });
  process.stdout.write(`${file} sha256 ${sha256} verified\n`);
}
