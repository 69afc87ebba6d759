export { bootTestbed, type BootOptions, type BootResult, type PlacedFile } from './boot.js';
export { probeScript, type CheckResult, type Checks, type ProbeOptions } from './probe.js';
export { ensureTestbedRoot, flatcarOsRelease, testbedRootSpec, PROBE_DIR, TESTBED_PACKAGES } from './root.js';
export { restoreLoopDevices, LOOP_DEVICES } from './loop.js';
export { BootTestError } from './errors.js';
export { findImages, hostArch, runBootTests, type ImageTestResult, type ImageUnderTest } from './suite.js';
