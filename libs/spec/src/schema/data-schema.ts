/**
 * `spec.data`: what the network reads, discriminated on `dataset`.
 *
 *   text      characters of a corpus: a bundled one (`source`) or a UTF-8 file (`path`),
 *             exactly one of the two; the model embeds the token ids (`model.embedding`)
 *   sequence  dense vectors from a CSV file of floats, one time step per row: the first
 *             `inputSize` columns are the inputs, the next `outputSize` the targets
 *   spirals, names, spam, digits, truecase, adding, sensors
 *             the lecture's model types, each with its own windows, targets and loss
 *             mask (task-data-schema.ts)
 *
 * Both hold out the tail of the data for validation (`validationFraction`), so the
 * validation text follows the training text in time and never overlaps it.
 */
import { z } from 'zod';
import { exactly, forbidden, intAtLeast, numberIn, oneOf } from './field-builders';
import { relativeDataPath } from './relative-data-path';
import { whenValid } from './when-valid';
import { addingDataSchema, digitsDataSchema, namesDataSchema, sensorsDataSchema, spamDataSchema, spiralsDataSchema, truecaseDataSchema } from './task-data-schema';

/** Corpora shipped with Unroll, usable without a data root. */
export const BUNDLED_CORPORA = ['sotu'] as const;

export const DEFAULT_VALIDATION_FRACTION = 0.05;

/** (0, 0.5]: something must be held out; holding out more than half is almost surely a mistake. */
function validationFraction() {
  return numberIn({ gt: 0, lte: 0.5 })
    .default(DEFAULT_VALIDATION_FRACTION)
    .describe('Fraction of the data, from its end, held out for validation; in (0, 0.5].');
}

export const textDataSchema = z
  .strictObject({
    dataset: exactly('text'),
    /**
     * A bundled corpus: `sotu` is the US State of the Union addresses 1790–2016.
     * Exactly one of `source` and `path`. No default.
     */
    source: oneOf(BUNDLED_CORPORA).optional().describe('A bundled corpus (sotu). Exactly one of source and path.'),
    /** A UTF-8 text file, relative to the data root. Exactly one of `source` and `path`. No default. */
    path: relativeDataPath().optional().describe('A UTF-8 text file relative to the data root. Exactly one of source and path.'),
    /**
     * Fraction of the characters, taken from the end of the text, held out for validation.
     * @defaultValue 0.05 — enough characters for a stable validation loss on a corpus of a
     * few megabytes, while 95% still trains.
     */
    validationFraction: validationFraction(),
    /**
     * Use only the first `maxChars` characters (before the validation split), for quick
     * runs. Absent: the whole text.
     */
    maxChars: intAtLeast(1).optional().describe('Use only the first N characters, for quick runs. Absent: the whole text.'),
    inputSize: forbidden('only allowed with dataset sequence (text is read as token ids)'),
    outputSize: forbidden('only allowed with dataset sequence (text is read as token ids)'),
  })
  .superRefine(
    (data, ctx) => {
      if (data.source !== undefined && data.path !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['path'],
          input: data.path,
          message: `expected either source or path, not both, got path ${JSON.stringify(data.path)} with source ${JSON.stringify(data.source)}`,
        });
      } else if (data.source === undefined && data.path === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['source'],
          input: undefined,
          message: `required field is missing; expected source (one of ${BUNDLED_CORPORA.join(' | ')}) or path (a file under the data root)`,
        });
      }
    },
    { when: whenValid('source', 'path') },
  )
  .describe('Character-level text.');

export const sequenceDataSchema = z
  .strictObject({
    dataset: exactly('sequence'),
    /** A CSV file of floats, relative to the data root, one time step per row, no header. No default. */
    path: relativeDataPath().describe('A CSV file of floats relative to the data root: one time step per row, inputs then targets.'),
    /** Number of leading columns that are the input vector. No default: it is the data's shape. */
    inputSize: intAtLeast(1).describe('Leading columns that are the input vector.'),
    /** Number of columns after the inputs that are the target vector. No default: it is the data's shape. */
    outputSize: intAtLeast(1).describe('Columns after the inputs that are the target vector.'),
    /**
     * Fraction of the rows, taken from the end, held out for validation.
     * @defaultValue 0.05 — the same split as for text; the tail keeps time order intact.
     */
    validationFraction: validationFraction(),
    source: forbidden('only allowed with dataset text'),
    maxChars: forbidden('only allowed with dataset text'),
  })
  .describe('Dense vectors per time step, for regression.');

export const dataSchema = z
  .discriminatedUnion('dataset', [
    textDataSchema,
    sequenceDataSchema,
    // The lecture's model types (task-data-schema.ts).
    spiralsDataSchema,
    namesDataSchema,
    spamDataSchema,
    digitsDataSchema,
    truecaseDataSchema,
    addingDataSchema,
    sensorsDataSchema,
  ])
  .describe('What the network reads, discriminated on dataset.');

export type TextDataSpec = z.output<typeof textDataSchema>;
export type SequenceDataSpec = z.output<typeof sequenceDataSchema>;
export type DataSpec = z.output<typeof dataSchema>;
