// Writes the committed JSON Schema from the built package, so editors and the README can link it.
import { writeFileSync } from 'node:fs';
import { extensionJsonSchema } from '../dist/index.js';

writeFileSync(new URL('../extension.schema.json', import.meta.url), `${JSON.stringify(extensionJsonSchema(), null, 2)}\n`);
