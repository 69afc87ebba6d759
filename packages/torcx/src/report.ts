import type { ConversionPlan } from './plan.js';

/**
 * The report as Markdown list items: what `convert-torcx` prints and the package README keeps,
 * so that whoever maintains the extension knows what the conversion changed and left out.
 */
export function formatReport(plan: ConversionPlan): string {
  const { report } = plan;
  const lines: string[] = [];
  const count = (n: number) => `${n} ${n === 1 ? 'entry' : 'entries'}`;
  lines.push(`- architecture ${plan.arch}, from ${report.archFrom}`);
  for (const move of report.moved) lines.push(`- moved \`${move.from}\` to \`${move.to}\` (${count(move.entries)})`);
  for (const unit of report.rewritten) lines.push(`- rewrote \`${unit.path}\`: ${unit.changes.join('; ')}`);
  for (const link of report.enabled)
    lines.push(`- \`${link.link}\` became \`enable: { unit: '${link.unit}', target: '${link.target}' }\`${link.shipped ? '' : ` (the image ships no ${link.unit}: it must come from the host)`}`);
  if (report.enabled.length === 0) lines.push('- no `.wants` links: nothing is enabled, and no drop-in is written');
  for (const drop of report.dropped) lines.push(`- dropped \`${drop.path}\` (${count(drop.entries)}): ${drop.reason}`);
  if (report.notCarried.length) lines.push(`- not carried by the sysext: ${report.notCarried.map((p) => `\`${p}\``).join(', ')}`);
  if (report.shadowing.length)
    lines.push(
      `- flattened libraries in /usr/lib, where the host's dynamic loader finds them for every program, so they can shadow the host's own copies: ${report.shadowing.map((p) => `\`${p}\``).join(', ')}`,
    );
  for (const { path, line } of report.unresolved) lines.push(`- still refers to Torcx, nothing sets this on a sysext host: \`${path}\`: \`${line}\``);
  if (report.builtins.length)
    lines.push(`- ships the commands of Flatcar's built-in ${report.builtins.join(' and ')}: declared as conflicts, so mask them (\`/etc/extensions/NAME.raw → /dev/null\`) where this image is used`);
  return `${lines.join('\n')}\n`;
}
