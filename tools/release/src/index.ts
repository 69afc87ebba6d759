export { runRelease, renderReport, type ExtensionInfo, type Outcome, type ReleaseOptions, type ReleaseReport, type ReleaseSteps, type StepName, type StepResult } from './pipeline.js';
export { loadPolicy, parsePolicy, PolicyError, extensionReleases, POLICY_FILE, ReleasePolicy, type ExtensionRelease } from './policy.js';
export { workspaceSteps, readTreeIndex } from './steps.js';
export { builtImages, publishedImages, type BuiltImage } from './images.js';
export { collectNotes, pendingChangesets, type PendingChangeset } from './notes.js';
