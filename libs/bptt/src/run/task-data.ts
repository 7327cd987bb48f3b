/**
 * The data of the lecture's model types (spec.data.dataset spirals, names, spam,
 * digits, truecase, adding, sensors; see libs/spec task-data-schema.ts): each dataset turned
 * into sequences of inputs, targets and a loss mask (episode-data.ts), or for
 * truecase into tagged token streams. Sequences are shuffled with a generator seeded
 * from spec.seed, then the last validationFraction of them is held out.
 */
import { addingProblem, CharVocab, digitStrings, loadFirstNames, loadSpamAssassin, loadTextCorpus, SENSOR_CLASSES, SENSOR_COUNT, sensorSeries, splitHoldout, twoSpirals, UNKNOWN_TOKEN } from '@unroll/datasets';
import { Rng } from '@unroll/models';
import type { ExperimentSpec } from '@unroll/spec';
import { EpisodeSequenceData, TaggedTokenSequenceData, type Episode, type EpisodeLayout } from '../episode-data';
import type { ExperimentData } from './experiment';

type Body = ExperimentSpec['spec'];

/** Streams used for validation (as for text: PyTorch word_language_model's eval_batch_size). */
const EVAL_STREAMS = 10;

/** Padding token of the token datasets; never scored. */
export const PAD_TOKEN = '\u0000';
/** The names alphabet, then the end mark '.' (the last class). */
export const NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyz-'.";
/** Classes of the one-hot vector a name is generated from (NAME_CLASSES of @unroll/datasets). */
export const NAME_CLASS_COUNT = 2;
/** The digits vocabulary: digits, operator, separator, end mark, padding, unknown. */
export const DIGIT_TOKENS = [...'0123456789+=.', PAD_TOKEN, UNKNOWN_TOKEN];
/** Spam messages are read in printable ASCII, newline and tab; anything else is the unknown token. */
export const SPAM_TOKENS = ['\t', '\n', ...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)), PAD_TOKEN, UNKNOWN_TOKEN];

/** Seed of the data's shuffle and generation: apart from the weights' (spec.seed), so the two draws are independent. */
function dataRng(seed: number): Rng {
  return new Rng((seed ^ 0x9e3779b9) >>> 0);
}

function shuffled<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

function episodeData(body: Body, episodes: Episode[], layout: EpisodeLayout, fraction: number, sizes: Pick<ExperimentData, 'inputKind' | 'inputSize' | 'outputSize' | 'vocab'>): ExperimentData {
  const held = Math.max(1, Math.floor(episodes.length * fraction));
  const train = episodes.slice(0, episodes.length - held);
  const validation = episodes.slice(episodes.length - held);
  const k = body.tbptt.window;
  return {
    train: new EpisodeSequenceData(train, layout, body.tbptt.streams, k),
    validation: new EpisodeSequenceData(validation, layout, Math.min(EVAL_STREAMS, validation.length), k),
    ...sizes,
  };
}

const ones = (n: number) => new Uint8Array(n).fill(1);
/** Mask of a sequence of n steps scored at its last step only. */
const lastOnly = (n: number) => {
  const m = new Uint8Array(n);
  m[n - 1] = 1;
  return m;
};

function spirals(body: Body): ExperimentData {
  const d = body.data;
  if (d.dataset !== 'spirals') throw new Error('unreachable');
  const rng = dataRng(body.seed);
  const points = twoSpirals(d.examples, d.noise, () => rng.next(), d.turns);
  const episodes = points.map((p) => ({ input: Float32Array.of(p.x, p.y), targets: Int32Array.of(p.label), mask: ones(1) }));
  const layout: EpisodeLayout = { input: { kind: 'dense', size: 2 }, targets: { kind: 'classes' }, align: 'start' };
  return episodeData(body, episodes, layout, d.validationFraction, { inputKind: 'dense', inputSize: 2, outputSize: 2 });
}

/**
 * Step 0 reads the class one-hot vector; step t ≥ 1 reads the one-hot of character
 * t − 1 (what was generated is fed back); step t predicts character t, the last step
 * the end mark.
 */
export function nameEpisode(name: string, label: number): Episode {
  const V = NAME_ALPHABET.length;
  const I = NAME_CLASS_COUNT + V;
  const L = name.length + 1;
  const input = new Float32Array(L * I);
  const targets = new Int32Array(L);
  input[label] = 1;
  for (let t = 0; t < L; t++) {
    const id = t < name.length ? NAME_ALPHABET.indexOf(name[t]) : V - 1;
    if (id < 0) throw new RangeError(`name ${JSON.stringify(name)} has a character outside ${NAME_ALPHABET}`);
    targets[t] = id;
    if (t + 1 < L) input[(t + 1) * I + NAME_CLASS_COUNT + id] = 1;
  }
  return { input, targets, mask: ones(L) };
}

function names(body: Body): ExperimentData {
  const d = body.data;
  if (d.dataset !== 'names') throw new Error('unreachable');
  const episodes = shuffled(loadFirstNames(d.maxLength), dataRng(body.seed)).map((n) => nameEpisode(n.name, n.label));
  const I = NAME_CLASS_COUNT + NAME_ALPHABET.length;
  const layout: EpisodeLayout = { input: { kind: 'dense', size: I }, targets: { kind: 'classes' }, align: 'start' };
  return episodeData(body, episodes, layout, d.validationFraction, { inputKind: 'dense', inputSize: I, outputSize: NAME_ALPHABET.length });
}

function spam(body: Body): ExperimentData {
  const d = body.data;
  if (d.dataset !== 'spam') throw new Error('unreachable');
  const vocab = new CharVocab(SPAM_TOKENS);
  const messages = shuffled(loadSpamAssassin(d.maxChars), dataRng(body.seed));
  const episodes = messages.map((m) => {
    const input = vocab.encode(m.text);
    const targets = new Int32Array(input.length);
    targets[input.length - 1] = m.spam;
    return { input, targets, mask: lastOnly(input.length) };
  });
  // Padding before the message: its last character is the last step of a window.
  const layout: EpisodeLayout = { input: { kind: 'tokens', padId: vocab.encode(PAD_TOKEN)[0] }, targets: { kind: 'classes' }, align: 'end' };
  return episodeData(body, episodes, layout, d.validationFraction, { inputKind: 'tokens', inputSize: vocab.size, outputSize: 2, vocab });
}

/**
 * One network reads the source and '=' (the encoder steps, not scored), then writes
 * the target: each decoder step reads the previous target character and predicts the
 * next, the last one the end mark '.'.
 */
export function digitEpisode(source: string, target: string, vocab: CharVocab): Episode {
  const input = vocab.encode(`${source}=${target}`);
  const out = vocab.encode(`${target}.`);
  const targets = new Int32Array(input.length);
  const mask = new Uint8Array(input.length);
  targets.set(out, source.length);
  mask.fill(1, source.length);
  return { input, targets, mask };
}

function digits(body: Body): ExperimentData {
  const d = body.data;
  if (d.dataset !== 'digits') throw new Error('unreachable');
  const vocab = new CharVocab(DIGIT_TOKENS);
  const rng = dataRng(body.seed);
  const episodes = digitStrings(d.examples, d.digits, d.operation, () => rng.next()).map((e) => digitEpisode(e.source, e.target, vocab));
  const layout: EpisodeLayout = { input: { kind: 'tokens', padId: vocab.encode(PAD_TOKEN)[0] }, targets: { kind: 'classes' }, align: 'start' };
  return episodeData(body, episodes, layout, d.validationFraction, { inputKind: 'tokens', inputSize: vocab.size, outputSize: vocab.size, vocab });
}

/** Lower-cased characters and their tags: 1 where the original character was upper-case. */
export function truecaseTags(text: string): { lower: string; tags: Int32Array } {
  const chars = [...text];
  const lower = chars.map((ch) => [...ch.toLowerCase()][0] ?? ch);
  return { lower: lower.join(''), tags: Int32Array.from(chars, (ch, i) => (ch !== lower[i] ? 1 : 0)) };
}

function truecase(body: Body, vocabFromCheckpoint?: CharVocab): ExperimentData {
  const d = body.data;
  if (d.dataset !== 'truecase') throw new Error('unreachable');
  const text = loadTextCorpus({ source: d.source }, d.maxChars);
  const { train, validation } = splitHoldout(text, d.validationFraction);
  const t = truecaseTags(train);
  const v = truecaseTags(validation);
  const vocab = vocabFromCheckpoint ?? CharVocab.fromText(t.lower);
  const evalStreams = Math.max(1, Math.min(EVAL_STREAMS, Math.floor(v.tags.length / body.tbptt.window)));
  return {
    train: new TaggedTokenSequenceData(vocab.encode(t.lower), t.tags, body.tbptt.streams),
    validation: new TaggedTokenSequenceData(vocab.encode(v.lower), v.tags, evalStreams),
    vocab,
    inputKind: 'tokens',
    inputSize: vocab.size,
    outputSize: 2,
  };
}

function adding(body: Body): ExperimentData {
  const d = body.data;
  if (d.dataset !== 'adding') throw new Error('unreachable');
  const rng = dataRng(body.seed);
  const episodes = addingProblem(d.examples, d.length, () => rng.next()).map((e) => {
    const targets = new Float32Array(d.length);
    targets[d.length - 1] = e.target;
    return { input: e.inputs, targets, mask: lastOnly(d.length) };
  });
  const layout: EpisodeLayout = { input: { kind: 'dense', size: 2 }, targets: { kind: 'values', size: 1 }, align: 'end' };
  return episodeData(body, episodes, layout, d.validationFraction, { inputKind: 'dense', inputSize: 2, outputSize: 1 });
}

/** Each step one frame (1 × samples × 3 sensors) for the CNN encoder; the activity scored at the last step. */
function sensors(body: Body): ExperimentData {
  const d = body.data;
  if (d.dataset !== 'sensors') throw new Error('unreachable');
  const rng = dataRng(body.seed);
  const series = shuffled(sensorSeries(d.examples, { steps: d.steps, samples: d.samples, noise: d.noise }, () => rng.next()), rng);
  const episodes = series.map((e) => {
    const targets = new Int32Array(d.steps);
    targets[d.steps - 1] = e.label;
    return { input: e.inputs, targets, mask: lastOnly(d.steps) };
  });
  const I = d.samples * SENSOR_COUNT;
  const layout: EpisodeLayout = { input: { kind: 'dense', size: I }, targets: { kind: 'classes' }, align: 'end' };
  return episodeData(body, episodes, layout, d.validationFraction, { inputKind: 'dense', inputSize: I, outputSize: SENSOR_CLASSES });
}

/** The data of a task dataset, or undefined for text and sequence (experiment.ts). */
export function loadTaskData(body: Body, vocabFromCheckpoint?: CharVocab): ExperimentData | undefined {
  switch (body.data.dataset) {
    case 'spirals':
      return spirals(body);
    case 'names':
      return names(body);
    case 'spam':
      return spam(body);
    case 'digits':
      return digits(body);
    case 'truecase':
      return truecase(body, vocabFromCheckpoint);
    case 'adding':
      return adding(body);
    case 'sensors':
      return sensors(body);
    default:
      return undefined;
  }
}
