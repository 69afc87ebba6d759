import { z } from 'zod';
import { Extension } from './manifest.js';

/** The manifest as JSON Schema, describing what a contributor may write (defaults optional). */
export function extensionJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(Extension, { io: 'input', unrepresentable: 'any' }),
    $id: 'https://bakehouse.dev/schema/extension.schema.json',
    title: 'Bakehouse extension manifest',
  };
}
