/**
 * State carry, proven on a task that needs memory across windows.
 *
 * The corpus is segments "a........a\n": a random letter from {a, b, c, d}, eight
 * dots, the same letter, a newline (11 characters). With windows of 4, knowing
 * where the dots end (and which letter closes them) needs what happened up to 9
 * steps back — in an earlier window. The same LSTM (embedding 8, hidden 24) is
 * trained for the same steps twice: with the state carried between windows (the
 * Trainer's default) and with every window starting from zeros (ResetStateStore).
 *
 * The gradient never crosses a window edge in either arm, so the carry arm cannot
 * learn *which* letter to close with (9 steps back, beyond k2 = 4); but the carried
 * state lets it learn where it is in the segment, which the reset arm cannot know
 * when its window holds only dots.
 *
 * Measured on 2026-11-26 (400 steps, Adam lr 0.01, clipNorm 1; about 9 s for both arms on
 * the cpu backend), validation loss in nats per character; the reset arm is scored
 * both its own way (reset) and with carry, and the better of the two counts:
 *
 *                    carry arm   reset arm: own way / with carry
 *   seed 1 (this test)
 *     all positions    0.413            0.548 / 0.761
 *     closing letter   1.689            3.285 / 6.655
 *   seed 2   all 0.345 vs 0.550 / 0.487    closing 1.871 vs 3.328 / 2.969
 *   seed 3   all 0.420 vs 0.551 / 0.825    closing 2.122 vs 3.296 / 6.534
 *   seed 4   all 0.383 vs 0.549 / 0.675    closing 1.594 vs 3.291 / 5.876
 *
 * Smallest gaps: 0.131 (all), 1.10 (closing). The assertions keep margins of 0.1
 * and 0.5. (ln 4 = 1.386 is the closing loss of a model that knows where the
 * segment closes but not with which letter.)
 */
import { RecurrentNetwork, Rng, selectBackend, tf } from '@unroll/models';
import { batchify, CharVocab } from '@unroll/datasets';
import { Adam } from './optimizers';
import { TokenSequenceData } from './sequence-data';
import { evaluate, Trainer } from './trainer';
import { LSTM, ResetStateStore } from './testing';

const LETTERS = 'abcd';
const DOTS = 8;
const WINDOW = 4;
const STEPS = 400;

function corpus(segments: number, seed: number): string {
  const rng = new Rng(seed);
  let s = '';
  for (let i = 0; i < segments; i++) {
    const l = LETTERS[Math.floor(rng.next() * LETTERS.length)];
    s += l + '.'.repeat(DOTS) + l + '\n';
  }
  return s;
}

interface Losses {
  all: number;
  closing: number;
}

/**
 * Validation cross-entropy per character over windows of WINDOW (the last one
 * shortened), the state carried or reset at each window; `closing` averages the
 * positions whose target is a letter following a dot.
 */
function validationLoss(net: RecurrentNetwork, data: TokenSequenceData, vocab: CharVocab, carry: boolean): Losses {
  const S = data.streams;
  const V = vocab.size;
  const dot = vocab.encode('.')[0];
  const letters = new Set(vocab.encode(LETTERS));
  let state = net.zeroState(S);
  let all = 0;
  let closing = 0;
  let nClosing = 0;
  for (let start = 0; start < data.positions; start += WINDOW) {
    const T = Math.min(WINDOW, data.positions - start);
    const w = data.window(0, S, start, T);
    if (w.input.kind !== 'tokens') throw new TypeError('expected token input');
    const ids = w.input.ids;
    const targets = w.targets as Int32Array;
    const logProbs = tf.tidy(() => {
      const out = net.forward(w.input, state);
      state = carry ? out.carry : net.zeroState(S);
      const h = tf.reshape(out.top, [T * S, net.config.hidden]);
      return tf.logSoftmax(tf.add(tf.matMul(h, tf.transpose(net.param('decoder.weight'))), net.param('decoder.bias')));
    });
    const lp = logProbs.dataSync() as Float32Array;
    logProbs.dispose();
    for (let r = 0; r < T * S; r++) {
      const loss = -lp[r * V + targets[r]];
      all += loss;
      if (ids[r] === dot && letters.has(targets[r])) {
        closing += loss;
        nClosing++;
      }
    }
  }
  return { all: all / (data.positions * S), closing: closing / nClosing };
}

describe('state carry across windows', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it('reaches a clearly lower validation loss than resetting the state at every window', () => {
    const train = corpus(640, 1);
    const validation = corpus(128, 2);
    const vocab = CharVocab.fromText(train + validation);
    const trainData = new TokenSequenceData(batchify(vocab.encode(train), 8));
    const valData = new TokenSequenceData(batchify(vocab.encode(validation), 4));

    const trainArm = (carry: boolean) => {
      const net = new RecurrentNetwork({ cell: LSTM, input: { kind: 'tokens', vocabSize: vocab.size, embedding: 8 }, hidden: 24, layers: 1, outputSize: vocab.size }, new Rng(1));
      const t = new Trainer({
        net,
        data: trainData,
        tbptt: { streams: 8, window: WINDOW, stride: WINDOW, microBatch: 8 },
        loss: 'cross-entropy',
        optimizer: new Adam({ lr: 0.01 }),
        clipNorm: 1,
        store: carry ? undefined : new ResetStateStore(net),
      });
      for (let i = 0; i < STEPS; i++) t.runStep();
      return net;
    };

    const carried = trainArm(true);
    const reset = trainArm(false);
    const c = validationLoss(carried, valData, vocab, true);
    // The helper agrees with evaluate() where both apply.
    expect(Math.abs(c.all - evaluate(carried, valData, WINDOW, 'cross-entropy').loss)).toBeLessThanOrEqual(1e-5);
    // The reset arm gets its better score of the two ways of running it.
    const rOwn = validationLoss(reset, valData, vocab, false);
    const rCarry = validationLoss(reset, valData, vocab, true);
    const r = { all: Math.min(rOwn.all, rCarry.all), closing: Math.min(rOwn.closing, rCarry.closing) };

    expect(c.all).toBeLessThan(r.all - 0.1);
    expect(c.closing).toBeLessThan(r.closing - 0.5);
    carried.dispose();
    reset.dispose();
  }, 60_000);
});
