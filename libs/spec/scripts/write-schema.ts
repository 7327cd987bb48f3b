/**
 * Writes libs/spec/experiment.schema.json from the zod schema. Run after changing the
 * schema: `npx tsx libs/spec/scripts/write-schema.ts`. A test fails while the
 * committed file differs from what this would write.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { experimentJsonSchemaText } from '../src/index';

const target = path.join(__dirname, '..', 'experiment.schema.json');
writeFileSync(target, experimentJsonSchemaText());
console.log(`wrote ${path.relative(process.cwd(), target)}`);
