export { makeDdi, DdiError, type DdiRequest, type DdiResult, type SigningKey } from './make.js';
export { verifyDdi, DdiVerifyError, type DdiVerification } from './verify.js';
export { readGpt, GptError, type GptPartition } from './gpt.js';
export { ddiToolsRoot } from './tools-root.js';
