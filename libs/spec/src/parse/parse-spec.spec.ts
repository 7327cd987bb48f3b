import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYamlText, stringify } from 'yaml';
import { SpecError, loadSpecFile, parseSpec, type ExperimentSpec, type SpecIssue } from '../index';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'sotu-char-lstm.yaml');
const fixtureText = readFileSync(FIXTURE, 'utf8');

type Section = Record<string, unknown>;

/** The fixture as plain data; the sections tests edit are typed as mappings. */
interface Doc {
  spec: { [key: string]: unknown; data: Section; model: Section; tbptt: Section; optimizer: Section; workers: Section };
}

/** The fixture as plain data, changed by `edit`, written back as YAML. */
function variant(edit: (doc: Doc) => void): string {
  const doc = parseYamlText(fixtureText) as Doc;
  edit(doc);
  return stringify(doc);
}

/** The issues parseSpec reports for `text`; fails the test if it parses. */
function issuesOf(text: string): readonly SpecIssue[] {
  try {
    parseSpec(text, 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(SpecError);
    return (err as SpecError).issues;
  }
  throw new Error('expected parseSpec to throw');
}

/** Issues as `path: message` lines, the way SpecError's message shows them. */
function linesOf(text: string): string[] {
  return issuesOf(text).map((issue) => `${issue.path}: ${issue.message}`);
}

const MINIMAL = `
apiVersion: unroll/v1
kind: Experiment
metadata: {name: tiny}
spec:
  data: {dataset: text, source: sotu}
  model: {cell: gru, embedding: 16, hidden: 32}
  tbptt: {streams: 4, window: 10}
  loss: cross-entropy
  optimizer: {name: sgd, lr: 0.1}
  steps: 50
`;

describe('parseSpec: valid specs', () => {
  it('parses the example with every value as written', () => {
    const spec = loadSpecFile(FIXTURE);
    const expected: ExperimentSpec = {
      apiVersion: 'unroll/v1',
      kind: 'Experiment',
      metadata: { name: 'sotu-char-lstm' },
      spec: {
        seed: 42,
        backend: 'auto',
        data: { dataset: 'text', source: 'sotu', validationFraction: 0.05, maxChars: 2_000_000 },
        model: { cell: 'lstm', embedding: 64, hidden: 256, layers: 2 },
        tbptt: { streams: 32, window: 35, stride: 35, microBatch: 8 },
        loss: 'cross-entropy',
        optimizer: { name: 'adam', lr: 0.002, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 },
        clipNorm: 1,
        steps: 2000,
        checkpoint: { every: 100, keep: 3 },
        eval: { every: 0, windows: 50 },
        workers: { min: 1, max: 1 },
      },
    };
    expect(spec).toEqual(expected);
  });

  it('fills in every default, including those derived from other fields', () => {
    expect(parseSpec(MINIMAL).spec).toEqual({
      seed: 0,
      backend: 'auto',
      data: { dataset: 'text', source: 'sotu', validationFraction: 0.05 },
      model: { cell: 'gru', gruVariant: 'reset-after', embedding: 16, hidden: 32, layers: 1 },
      tbptt: { streams: 4, window: 10, stride: 10, microBatch: 4 },
      loss: 'cross-entropy',
      optimizer: { name: 'sgd', lr: 0.1, momentum: 0, nesterov: false, weightDecay: 0 },
      clipNorm: null,
      steps: 50,
      checkpoint: { every: 50, keep: 3 },
      eval: { every: 0, windows: 50 },
      workers: { min: 1, max: 1 },
    });
  });

  it('defaults activation to tanh for rnn and workers.max to workers.min', () => {
    const spec = parseSpec(
      variant((doc) => {
        doc.spec.model = { cell: 'rnn', embedding: 8, hidden: 8 };
        doc.spec.workers = { min: 3 };
      }),
    ).spec;
    expect(spec.model).toEqual({ cell: 'rnn', activation: 'tanh', embedding: 8, hidden: 8, layers: 1 });
    expect(spec.workers).toEqual({ min: 3, max: 3 });
  });

  it('accepts a sequence dataset with an mse loss and no embedding', () => {
    const spec = parseSpec(
      variant((doc) => {
        doc.spec.data = { dataset: 'sequence', path: 'series/x.csv', inputSize: 3, outputSize: 1 };
        doc.spec.model = { cell: 'gru', gruVariant: 'reset-before', hidden: 16 };
        doc.spec.loss = 'mse';
      }),
    ).spec;
    expect(spec.data).toEqual({ dataset: 'sequence', path: 'series/x.csv', inputSize: 3, outputSize: 1, validationFraction: 0.05 });
    expect(spec.model).toEqual({ cell: 'gru', gruVariant: 'reset-before', hidden: 16, layers: 1 });
  });

  it('accepts a text file path instead of a bundled source, and an explicit null clipNorm', () => {
    const spec = parseSpec(
      variant((doc) => {
        doc.spec.data = { dataset: 'text', path: 'books/corpus.txt' };
        doc.spec.clipNorm = null;
      }),
    ).spec;
    expect(spec.data).toEqual({ dataset: 'text', path: 'books/corpus.txt', validationFraction: 0.05 });
    expect(spec.clipNorm).toBeNull();
  });
});

describe('parseSpec: LSTM variants and bidirectional models', () => {
  it('keeps the fields as written, and leaves them out when absent (spec hashes of older specs do not change)', () => {
    const spec = parseSpec(
      variant((doc) => {
        doc.spec.model = { ...doc.spec.model, peepholes: true, coupledGates: true, bidirectional: true, forgetBias: 1 };
        doc.spec.tbptt = { ...doc.spec.tbptt, independentWindows: true };
      }),
    ).spec;
    expect(spec.model).toMatchObject({ cell: 'lstm', peepholes: true, coupledGates: true, bidirectional: true, forgetBias: 1 });
    expect(spec.tbptt.independentWindows).toBe(true);
    const plain = loadSpecFile(FIXTURE).spec;
    expect(Object.keys(plain.model)).not.toContain('bidirectional');
    expect(Object.keys(plain.model)).not.toContain('forgetBias');
    expect(Object.keys(plain.tbptt)).not.toContain('independentWindows');
  });
});

describe('parseSpec: cross-field rules name the field', () => {
  const cases: [string, (doc: Doc) => void, string][] = [
    ['stride ≤ window', (d) => (d.spec.tbptt.stride = 40), 'spec.tbptt.stride: expected an integer between 1 and window (35), got 40'],
    ['microBatch divides streams', (d) => (d.spec.tbptt.microBatch = 5), 'spec.tbptt.microBatch: expected a divisor of streams (32), got 5'],
    ['cross-entropy only with text', (d) => (d.spec.loss = 'mse'), 'spec.loss: expected cross-entropy for dataset text, got "mse"'],
    [
      'cross-entropy with sensors (classes)',
      (d) => {
        d.spec.data = { dataset: 'sensors', examples: 8 };
        delete d.spec.model.embedding;
        d.spec.loss = 'mse';
      },
      'spec.loss: expected cross-entropy for dataset sensors, got "mse"',
    ],
    [
      'mse/sse only with sequence',
      (d) => {
        d.spec.data = { dataset: 'sequence', path: 'x.csv', inputSize: 2, outputSize: 1 };
        delete d.spec.model.embedding;
      },
      'spec.loss: expected mse or sse for dataset sequence, got "cross-entropy"',
    ],
    [
      'embedding required for text',
      (d) => delete d.spec.model.embedding,
      'spec.model.embedding: required field is missing; expected an integer ≥ 1 (the embedding size) for dataset text',
    ],
    [
      'embedding not allowed for sequence',
      (d) => {
        d.spec.data = { dataset: 'sequence', path: 'x.csv', inputSize: 2, outputSize: 1 };
        d.spec.loss = 'sse';
      },
      'spec.model.embedding: only allowed with dataset text (dataset sequence feeds dense vectors to the first layer), got 64',
    ],
    ['activation only for rnn', (d) => (d.spec.model.activation = 'relu'), 'spec.model.activation: only allowed with cell rnn (this model has cell lstm), got "relu"'],
    [
      'gruVariant only for gru',
      (d) => (d.spec.model = { cell: 'rnn', embedding: 8, hidden: 8, gruVariant: 'reset-before' }),
      'spec.model.gruVariant: only allowed with cell gru (this model has cell rnn), got "reset-before"',
    ],
    [
      'peepholes only for lstm',
      (d) => (d.spec.model = { cell: 'gru', embedding: 8, hidden: 8, peepholes: true }),
      'spec.model.peepholes: only allowed with cell lstm (this model has cell gru), got true',
    ],
    [
      'coupledGates only for lstm',
      (d) => (d.spec.model = { cell: 'rnn', embedding: 8, hidden: 8, coupledGates: true }),
      'spec.model.coupledGates: only allowed with cell lstm (this model has cell rnn), got true',
    ],
    [
      'forgetBias only for lstm',
      (d) => (d.spec.model = { cell: 'gru', embedding: 8, hidden: 8, forgetBias: 1 }),
      'spec.model.forgetBias: only allowed with cell lstm (this model has cell gru), got 1',
    ],
    ['forgetBias is a number', (d) => (d.spec.model.forgetBias = 'one'), 'spec.model.forgetBias: expected a number in (-∞, ∞), got "one"'],
    [
      'bidirectional needs independent windows',
      (d) => (d.spec.model.bidirectional = true),
      "spec.tbptt.independentWindows: expected true with model.bidirectional (a backward direction's state at a window's end depends on the steps after the window, so it cannot be carried across TBPTT windows; make each window one whole sequence: independentWindows: true, stride = window), got nothing",
    ],
    [
      'bidirectional needs stride = window',
      (d) => {
        d.spec.model.bidirectional = true;
        d.spec.tbptt = { ...d.spec.tbptt, independentWindows: true, stride: 5 };
      },
      'spec.tbptt.stride: expected window (35) with model.bidirectional: windows are independent sequences, so overlapping ones would score steps whose backward context is cut short, got 5',
    ],
    [
      'independent windows only with a bidirectional model',
      (d) => (d.spec.tbptt.independentWindows = true),
      'spec.tbptt.independentWindows: only allowed with model.bidirectional: true for now (a causal model carries its state across windows; remove the field), got true',
    ],
    ['workers.min ≤ workers.max', (d) => (d.spec.workers = { min: 4, max: 2 }), 'spec.workers.max: expected an integer ≥ workers.min (4), got 2'],
    [
      'source XOR path: both',
      (d) => (d.spec.data.path = 'corpus.txt'),
      'spec.data.path: expected either source or path, not both, got path "corpus.txt" with source "sotu"',
    ],
    [
      'source XOR path: neither',
      (d) => delete d.spec.data.source,
      'spec.data.source: required field is missing; expected source (one of sotu) or path (a file under the data root)',
    ],
    [
      'nesterov needs momentum',
      (d) => (d.spec.optimizer = { name: 'sgd', lr: 0.1, nesterov: true }),
      'spec.optimizer.nesterov: expected false when momentum is 0 (Nesterov momentum needs momentum > 0), got true',
    ],
    [
      'sequence fields only with sequence',
      (d) => (d.spec.data.inputSize = 3),
      'spec.data.inputSize: only allowed with dataset sequence (text is read as token ids), got 3',
    ],
  ];
  it.each(cases)('%s', (_rule, edit, line) => {
    expect(linesOf(variant(edit))).toEqual([line]);
  });

  it('reports cross-field issues alongside unrelated errors in the same parse', () => {
    const lines = linesOf(
      variant((d) => {
        d.spec.tbptt.stride = 40;
        d.spec.tbptt.microBatch = 'eight';
        d.spec.loss = 'sse';
        d.spec.steps = 0;
      }),
    );
    expect(lines).toEqual([
      'spec.tbptt.stride: expected an integer between 1 and window (35), got 40',
      'spec.tbptt.microBatch: expected an integer ≥ 1, got "eight"',
      'spec.loss: expected cross-entropy for dataset text, got "sse"',
      'spec.steps: expected an integer ≥ 1, got 0',
    ]);
  });
});

describe('parseSpec: shape errors', () => {
  it('rejects an unknown key at its own path and suggests the closest field', () => {
    const lines = linesOf(fixtureText.replace('window: 35', 'windw: 35'));
    expect(lines).toEqual([
      'spec.tbptt.window: required field is missing; expected an integer ≥ 1',
      'spec.tbptt.windw: unknown field (did you mean "window"?); expected one of streams, window, stride, microBatch, independentWindows',
    ]);
  });

  it('rejects unknown keys at every level, including the top', () => {
    const lines = linesOf(`${fixtureText}extra: 1\n`.replace('  steps: 2000', '  steps: 2000\n  stepz: 3'));
    expect(lines).toEqual([
      expect.stringMatching(/^spec\.stepz: unknown field \(did you mean "steps"\?\)/),
      'extra: unknown field; expected one of apiVersion, kind, metadata, spec',
    ]);
  });

  it('does not list forbidden variant fields as allowed', () => {
    const [line] = linesOf(fixtureText.replace('layers: 2', 'layer: 2'));
    expect(line).toBe('spec.model.layer: unknown field (did you mean "layers"?); expected one of cell, peepholes, coupledGates, forgetBias, embedding, hidden, layers, bidirectional, cnn');
  });

  it('says what was expected and what arrived for wrong types and ranges', () => {
    const lines = linesOf(
      variant((d) => {
        d.spec.seed = -1;
        d.spec.backend = 'gpu';
        d.spec.model.hidden = '256';
        (d.spec as Record<string, unknown>).tbptt = 32;
        d.spec.optimizer.betas = [0.9, 1.5];
        d.spec.clipNorm = 0;
        d.spec.data.validationFraction = 0.75;
      }),
    );
    expect(lines).toEqual([
      'spec.seed: expected an integer ≥ 0, got -1',
      'spec.backend: expected one of auto | cpu | wasm | tensorflow | tensorflow-gpu, got "gpu"',
      'spec.data.validationFraction: expected a number in (0, 0.5], got 0.75',
      'spec.model.hidden: expected an integer ≥ 1, got "256"',
      'spec.tbptt: expected a mapping, got 32',
      'spec.optimizer.betas[1]: expected a number in [0, 1), got 1.5',
      'spec.clipNorm: expected a number in (0, ∞), got 0',
    ]);
  });

  it('names bad discriminators with the allowed values', () => {
    expect(linesOf(fixtureText.replace('cell: lstm', 'cell: transformer'))).toEqual(['spec.model.cell: expected one of rnn | lstm | gru | convlstm, got "transformer"']);
    expect(linesOf(fixtureText.replace('name: adam', 'name: rmsprop'))).toEqual(['spec.optimizer.name: expected one of adam | sgd, got "rmsprop"']);
    expect(linesOf(fixtureText.replace('dataset: text', 'dataset: images'))).toEqual(['spec.data.dataset: expected one of text | sequence | spirals | names | spam | digits | truecase | adding | sensors, got "images"']);
  });

  it('reports missing required fields with the position of their parent', () => {
    const issues = issuesOf(fixtureText.replace('  steps: 2000\n', ''));
    expect(issues).toEqual([{ path: 'spec.steps', message: 'required field is missing; expected an integer ≥ 1', line: 6, column: 1 }]);
  });

  it('refuses absolute and escaping data paths already in the schema', () => {
    const at = (p: string) => linesOf(variant((d) => (d.spec.data = { dataset: 'text', path: p })));
    expect(at('/etc/passwd')).toEqual([`spec.data.path: expected a '/'-separated path relative to the data root, got "/etc/passwd": it is absolute`]);
    expect(at('a/../../x')).toEqual([
      `spec.data.path: expected a '/'-separated path relative to the data root, got "a/../../x": its '..' segments climb out of the data root`,
    ]);
    expect(at('C:/data/x.txt')[0]).toMatch(/it is absolute$/);
    expect(at('a\\b.txt')[0]).toMatch(/contains '\\'/);
  });

  it('refuses a metadata.name that is not a DNS-1123 label', () => {
    for (const name of ['Sotu', 'sotu_char', '-sotu', 'a'.repeat(64)]) {
      expect(linesOf(fixtureText.replace('name: sotu-char-lstm', `name: ${name}`))[0]).toMatch(/^metadata\.name: expected a DNS-1123 label .*, got "/);
    }
    expect(parseSpec(fixtureText.replace('name: sotu-char-lstm', `name: ${'a'.repeat(63)}`)).metadata.name).toHaveLength(63);
  });

  it('positions each issue at its key in the YAML text', () => {
    const issues = issuesOf(fixtureText.replace('stride: 35', 'stride: 40'));
    expect(issues).toEqual([{ path: 'spec.tbptt.stride', message: expect.any(String), line: 19, column: 36 }]);
  });
});

describe('parseSpec: the document', () => {
  it('turns a YAML syntax error into a SpecError with line and column', () => {
    const text = 'apiVersion: unroll/v1\nkind: Experiment\nspec:\n  tbptt: {streams: 32, window: 35\n  steps: 10\n';
    const [first] = issuesOf(text);
    expect(first.path).toBe('');
    expect(first.line).toBeGreaterThanOrEqual(4);
    expect(first.column).toEqual(expect.any(Number));
    expect(first.message).toMatch(new RegExp(`^YAML error at line ${first.line}, column ${first.column}: `));
  });

  it('rejects duplicate keys and unknown tags (a spec is plain data)', () => {
    expect(issuesOf(fixtureText.replace('seed: 42', 'seed: 42\n  seed: 7'))).toEqual([
      { path: '', line: 8, column: 3, message: 'YAML error at line 8, column 3: Map keys must be unique' },
    ]);
    expect(issuesOf(fixtureText.replace('seed: 42', 'seed: !!js/function "f"'))[0].message).toMatch(/Unresolved tag/);
  });

  it('refuses a wrong apiVersion or kind for that reason alone', () => {
    expect(linesOf(fixtureText.replace('apiVersion: unroll/v1', 'apiVersion: unroll/v2').replace('steps: 2000', 'steps: -1'))).toEqual([
      'apiVersion: expected "unroll/v1", got "unroll/v2"',
    ]);
    expect(linesOf(fixtureText.replace('kind: Experiment', 'kind: Job'))).toEqual(['kind: expected "Experiment", got "Job"']);
    expect(linesOf(fixtureText.replace('apiVersion: unroll/v1\n', ''))).toEqual(['apiVersion: required field is missing; expected "unroll/v1"']);
  });

  it('refuses documents that are not a mapping', () => {
    expect(linesOf('- a\n- b\n')).toEqual([': expected a mapping with apiVersion unroll/v1, kind Experiment, metadata and spec, got a list of 2 items']);
    expect(linesOf('42\n')[0]).toMatch(/got 42$/);
    expect(linesOf('# only a comment\n')).toEqual([': expected one YAML document with apiVersion, kind, metadata and spec, got no document']);
    expect(linesOf('~\n')).toEqual([': expected a mapping with apiVersion, kind, metadata and spec, got an empty document']);
  });

  it('refuses more than one document', () => {
    expect(issuesOf(`${fixtureText}---\n${fixtureText}`)).toEqual([
      { path: '', line: 27, column: 1, message: 'expected one YAML document, got 2 (another starts at line 27)' },
    ]);
  });

  it('lists every issue in the error message, one per line, under a header naming the source', () => {
    const text = fixtureText.replace('stride: 35', 'stride: 40').replace('loss: cross-entropy', 'loss: mse');
    expect(() => parseSpec(text, 'exp.yaml')).toThrow(
      [
        'invalid experiment spec exp.yaml (2 issues):',
        'spec.tbptt.stride: expected an integer between 1 and window (35), got 40',
        'spec.loss: expected cross-entropy for dataset text, got "mse"',
      ].join('\n'),
    );
  });

  it('refuses oversized text before parsing it', () => {
    expect(linesOf(`# ${'x'.repeat(1_000_001)}\n`)[0]).toMatch(/^: expected a spec of at most 1000000 characters, got/);
  });
});
