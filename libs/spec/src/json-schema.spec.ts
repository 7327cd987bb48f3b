import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { experimentJsonSchema, experimentJsonSchemaText } from './index';

describe('experiment.schema.json', () => {
  it('is current: regenerate with `npx tsx libs/spec/scripts/write-schema.ts`', () => {
    const committed = readFileSync(path.join(__dirname, '..', 'experiment.schema.json'), 'utf8');
    expect(committed).toBe(experimentJsonSchemaText());
  });

  it('describes the document as written: strict, with defaulted fields optional', () => {
    const schema = experimentJsonSchema as { required: string[]; additionalProperties: boolean; properties: Record<string, { required?: string[] }> };
    expect(schema.required).toEqual(['apiVersion', 'kind', 'metadata', 'spec']);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.spec.required).toEqual(['data', 'model', 'tbptt', 'loss', 'optimizer', 'steps']);
  });
});
