/**
 * The experiment schema as JSON Schema (draft 2020-12), for editors and other
 * languages. It describes the document as written (zod's input side: defaulted fields
 * optional). Rules between fields are not expressible there and are checked only by
 * parseSpec. The committed copy is libs/spec/experiment.schema.json; regenerate it with
 * `npx tsx libs/spec/scripts/write-schema.ts`.
 */
import { z } from 'zod';
import { experimentSchema } from './schema/experiment-schema';

export const experimentJsonSchema: Readonly<Record<string, unknown>> = z.toJSONSchema(experimentSchema, {
  io: 'input',
  target: 'draft-2020-12',
});

/** The text of the committed experiment.schema.json: two-space indented, trailing newline. */
export function experimentJsonSchemaText(): string {
  return `${JSON.stringify(experimentJsonSchema, null, 2)}\n`;
}
