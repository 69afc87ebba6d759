import type { ExtensionLock } from '@bakehouse/schema';
import type { ConversionPlan } from './plan.js';

export interface ManifestOptions {
  description?: string;
  homepage?: string;
  /** Workspace extensions that ship some of the same paths. */
  conflictingExtensions?: string[];
}

/** Flatcar's own notes on moving from Torcx to systemd-sysext. */
const DEFAULT_HOMEPAGE = 'https://www.flatcar.org/docs/latest/provisioning/sysext/';

/**
 * The extension manifest as plain data (what extension.ts says): the converted tree is its
 * files/, the `.wants` links its `enable` list, and the enabled units its smoke check.
 */
export function extensionSource(plan: ConversionPlan, options: ManifestOptions = {}): Record<string, unknown> {
  const extensions = [...(options.conflictingExtensions ?? [])].sort();
  const { builtins } = plan.report;
  const conflicts = { ...(extensions.length ? { extensions } : {}), ...(builtins.length ? { builtins } : {}) };
  return {
    name: plan.name,
    description: options.description ?? `${plan.name} ${plan.version}, converted from the Torcx image ${plan.report.archive}`,
    homepage: options.homepage ?? DEFAULT_HOMEPAGE,
    arch: [plan.arch],
    ...(plan.enable.length ? { enable: plan.enable.map(({ unit, target }) => ({ unit, target })) } : {}),
    release: { id: 'flatcar', compat: 'level' },
    ...(Object.keys(conflicts).length ? { conflicts } : {}),
    smoke: { units: plan.report.enabled.filter((link) => link.shipped).map((link) => link.unit) },
  };
}

/** A files-only extension pins nothing but its version. */
export function extensionLock(plan: ConversionPlan): ExtensionLock {
  return {
    $comment: `Written by \`bakehouse convert-torcx\` from ${plan.report.archive}. The image has no inputs: files/ holds the converted tree. A new version: \`bakehouse bump ${plan.name} --to VERSION\` after replacing files/.`,
    lockVersion: 1,
    images: [{ version: plan.version, inputs: {} }],
  };
}
