export { makeDdi, DdiError, DDI_EROFS_OPTIONS, DEFAULT_DDI_COMPRESSION, type DdiCompression, type DdiRequest, type DdiResult, type SigningKey } from './make.js';
export { verifyDdi, DdiVerifyError, type DdiVerification } from './verify.js';
export { readGpt, GptError, type GptPartition } from './gpt.js';
export { ddiToolsRoot } from './tools-root.js';
