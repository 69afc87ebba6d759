export { runRelease, renderReport, STAGED_FLATCAR, type BootTestResult, type PublishStepOptions, type ExtensionInfo, type Outcome, type ReleaseOptions, type ReleaseReport, type ReleaseSteps, type StepName, type StepResult } from './pipeline.js';
export { loadPolicy, parsePolicy, PolicyError, extensionReleases, POLICY_FILE, ReleasePolicy, type ExtensionRelease } from './policy.js';
export { workspaceSteps, readTreeIndex } from './steps.js';
export { builtImages, publishedImages, stageImages, StageError, type BuiltImage } from './images.js';
export { testRecord, testRecordFile, type Testbed } from './evidence.js';
export { collectNotes, pendingChangesets, type PendingChangeset } from './notes.js';
