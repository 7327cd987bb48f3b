import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { CheckpointParts, CheckpointStore, STATE_SHA256_METADATA_KEY, readModelFile } from './checkpoint-store';
import { CheckpointArgumentError, CheckpointMismatchError, CorruptCheckpointError } from './errors';
import { CHECKSUM_METADATA_KEY, decodeSafetensors } from './safetensors';

/** Parts whose values depend on the step, so checkpoints can be told apart. */
function partsFor(step: number): CheckpointParts {
  return {
    model: {
      tensors: {
        weight_ih_l0: { dtype: 'F32', shape: [8, 2], data: new Float32Array(16).fill(step) },
        bias_ih_l0: { dtype: 'F32', shape: [8], data: new Float32Array(8).fill(-step) },
      },
      metadata: { vocab: '["a","b"]', specHash: 'deadbeef' },
    },
    state: {
      tensors: {
        'adam.m.weight_ih_l0': { dtype: 'F32', shape: [8, 2], data: new Float32Array(16).fill(step / 2) },
        'hidden.stream0.h': { dtype: 'F64', shape: [1, 2], data: new Float64Array([step, step]) },
        'adam.t': { dtype: 'I64', shape: [], data: new BigInt64Array([BigInt(step)]) },
      },
      metadata: { cursor: JSON.stringify({ stream0: step * 10 }), rng: '[1,2,3,4]', specHash: 'deadbeef' },
    },
  };
}

describe('CheckpointStore', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'unroll-ckpt-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('saves two files and loads back exactly what was saved', async () => {
    const store = new CheckpointStore(dir);
    const saved = await store.save(7, partsFor(7));
    expect(saved).toEqual({
      step: 7,
      modelPath: path.join(dir, 'step-00000007.safetensors'),
      statePath: path.join(dir, 'step-00000007.state.safetensors'),
    });
    expect(readdirSync(dir).sort()).toEqual(['step-00000007.safetensors', 'step-00000007.state.safetensors']);
    expect(await store.list()).toEqual([saved]);
    expect(await store.latest()).toEqual(saved);

    const loaded = await store.load(saved.modelPath);
    expect(loaded).toEqual({ step: 7, ...partsFor(7) });
  });

  it('writes a model file holding only the weights, recording the state file sha256', async () => {
    const store = new CheckpointStore(dir);
    const { modelPath, statePath } = await store.save(1, partsFor(1));
    const model = decodeSafetensors(readFileSync(modelPath));
    expect(Object.keys(model.tensors)).toEqual(['weight_ih_l0', 'bias_ih_l0']);
    expect(model.metadata).toEqual({
      vocab: '["a","b"]',
      specHash: 'deadbeef',
      'unroll.step': '1',
      [STATE_SHA256_METADATA_KEY]: createHash('sha256').update(readFileSync(statePath)).digest('hex'),
      [CHECKSUM_METADATA_KEY]: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(await readModelFile(modelPath)).toEqual(partsFor(1).model);
  });

  it('keeps only the last K complete checkpoints', async () => {
    const store = new CheckpointStore(dir, { keep: 2 });
    for (const step of [100, 200, 300, 400, 500]) await store.save(step, partsFor(step));
    expect((await store.list()).map((e) => e.step)).toEqual([400, 500]);
    expect(readdirSync(dir)).toHaveLength(4);
    expect(new CheckpointStore(dir).keep).toBe(3);
  });

  it('serializes concurrent saves', async () => {
    const store = new CheckpointStore(dir, { keep: 3 });
    await Promise.all([1, 2, 3, 4, 5, 6].map((step) => store.save(step, partsFor(step))));
    expect((await store.list()).map((e) => e.step)).toEqual([4, 5, 6]);
    for (const entry of await store.list()) expect((await store.load(entry.modelPath)).step).toBe(entry.step);
  });

  it('orders steps numerically beyond the padding width', async () => {
    const store = new CheckpointStore(dir, { keep: 5 });
    await store.save(123_456_789, partsFor(1));
    await store.save(99_999_999, partsFor(2));
    await store.save(9, partsFor(3));
    expect((await store.list()).map((e) => e.step)).toEqual([9, 99_999_999, 123_456_789]);
  });

  it('latest() ignores a state file without its model file, and the next save removes it', async () => {
    const store = new CheckpointStore(dir);
    await store.save(1, partsFor(1));
    await store.save(2, partsFor(2));
    // A save of step 9 that died after writing its state file.
    copyFileSync(path.join(dir, 'step-00000002.state.safetensors'), path.join(dir, 'step-00000009.state.safetensors'));
    expect((await store.latest())?.step).toBe(2);
    await store.save(3, partsFor(3));
    expect(readdirSync(dir)).not.toContain('step-00000009.state.safetensors');
  });

  it('sweeps stale temp files of checkpoint names and leaves other files alone', async () => {
    const stale = ['.step-00000001.safetensors.tmp-4242-0123456789ab', '.step-00000001.state.safetensors.tmp-1-abcdefabcdef'];
    const unrelated = ['notes.txt', '.other.tmp-1-abcdefabcdef', 'step-1.safetensors'];
    for (const name of [...stale, ...unrelated]) writeFileSync(path.join(dir, name), 'x');
    await new CheckpointStore(dir).save(2, partsFor(2));
    const left = readdirSync(dir);
    for (const name of stale) expect(left).not.toContain(name);
    for (const name of unrelated) expect(left).toContain(name);
  });

  it('re-saving a step replaces both files', async () => {
    const store = new CheckpointStore(dir);
    await store.save(5, partsFor(5));
    const { modelPath } = await store.save(5, partsFor(6));
    expect((await store.load(modelPath)).model).toEqual(partsFor(6).model);
  });

  it('creates the directory on save and lists nothing before', async () => {
    const store = new CheckpointStore(path.join(dir, 'a', 'b'));
    expect(await store.list()).toEqual([]);
    expect(await store.latest()).toBeUndefined();
    await store.save(0, partsFor(0));
    expect((await store.latest())?.step).toBe(0);
  });

  describe('load() verification', () => {
    let store: CheckpointStore;
    beforeEach(async () => {
      store = new CheckpointStore(dir);
      await store.save(1, partsFor(1));
      await store.save(2, partsFor(2));
    });
    const file = (name: string): string => path.join(dir, name);

    it('a state file swapped in from another checkpoint is a CheckpointMismatchError', async () => {
      copyFileSync(file('step-00000002.state.safetensors'), file('step-00000001.state.safetensors'));
      const load = store.load(file('step-00000001.safetensors'));
      await expect(load).rejects.toThrow(CheckpointMismatchError);
      await expect(load).rejects.toThrow(/does not belong to .*step-00000001\.safetensors: model file records state sha256 [0-9a-f]{64}, state file hashes to/);
    });

    it('a model file renamed to another step is a CheckpointMismatchError', async () => {
      rmSync(file('step-00000002.safetensors'));
      renameSync(file('step-00000001.safetensors'), file('step-00000002.safetensors'));
      copyFileSync(file('step-00000001.state.safetensors'), file('step-00000002.state.safetensors'));
      await expect(store.load(file('step-00000002.safetensors'))).rejects.toThrow(
        /named for step 2 but its metadata records step 1/,
      );
    });

    it('a bit flip in the state file is a CorruptCheckpointError', async () => {
      const bytes = readFileSync(file('step-00000001.state.safetensors'));
      bytes[bytes.length - 1] ^= 0x80;
      writeFileSync(file('step-00000001.state.safetensors'), bytes);
      await expect(store.load(file('step-00000001.safetensors'))).rejects.toThrow(CorruptCheckpointError);
      await expect(store.load(file('step-00000001.safetensors'))).rejects.toThrow(/checksum mismatch/);
    });

    it('a truncated model file is a CorruptCheckpointError', async () => {
      const bytes = readFileSync(file('step-00000002.safetensors'));
      writeFileSync(file('step-00000002.safetensors'), bytes.subarray(0, bytes.length - 10));
      await expect(store.load(file('step-00000002.safetensors'))).rejects.toThrow(CorruptCheckpointError);
      await expect(readModelFile(file('step-00000002.safetensors'))).rejects.toThrow(/out of range/);
    });

    it('a missing state file is a CorruptCheckpointError', async () => {
      rmSync(file('step-00000002.state.safetensors'));
      await expect(store.load(file('step-00000002.safetensors'))).rejects.toThrow(
        /step-00000002\.state\.safetensors: state file missing/,
      );
    });

    it('a path that is not a model file name is a CheckpointArgumentError', async () => {
      await expect(store.load(file('step-00000002.state.safetensors'))).rejects.toThrow(CheckpointArgumentError);
    });
  });

  describe('argument checks', () => {
    it('rejects reserved metadata keys', async () => {
      const parts = partsFor(1);
      parts.state.metadata['unroll.step'] = '3';
      await expect(new CheckpointStore(dir).save(1, parts)).rejects.toThrow(
        /state metadata must not set reserved keys, got unroll.step/,
      );
      expect(readdirSync(dir)).toEqual([]);
    });

    it('rejects a bad step and a bad keep', async () => {
      await expect(new CheckpointStore(dir).save(-1, partsFor(1))).rejects.toThrow(CheckpointArgumentError);
      await expect(new CheckpointStore(dir).save(1.5, partsFor(1))).rejects.toThrow(/non-negative integer, got 1.5/);
      expect(() => new CheckpointStore(dir, { keep: 0 })).toThrow(/option keep expects an integer >= 1, got 0/);
    });

    it('a failed save does not block the next one', async () => {
      const store = new CheckpointStore(dir);
      const bad = partsFor(1);
      bad.model.tensors.bias_ih_l0.shape = [9];
      await expect(store.save(1, bad)).rejects.toThrow(CheckpointArgumentError);
      await store.save(2, partsFor(2));
      expect((await store.list()).map((e) => e.step)).toEqual([2]);
    });
  });
});
