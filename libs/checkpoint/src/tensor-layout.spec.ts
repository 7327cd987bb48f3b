import { CheckpointMismatchError, TensorLayoutMismatchError } from './errors';
import { assertTensorsMatch } from './tensor-layout';

describe('assertTensorsMatch', () => {
  const expected = {
    weight_ih_l0: { shape: [16, 3], dtype: 'F32' as const },
    weight_hh_l0: { shape: [16, 4], dtype: 'F32' as const },
    bias_ih_l0: { shape: [16], dtype: 'F32' as const },
  };

  it('accepts the same names, shapes and dtypes in any order', () => {
    expect(() =>
      assertTensorsMatch(expected, { bias_ih_l0: expected.bias_ih_l0, weight_hh_l0: expected.weight_hh_l0, weight_ih_l0: expected.weight_ih_l0 }, 'm.safetensors'),
    ).not.toThrow();
  });

  it('lists every missing, unexpected and wrongly laid out tensor at once', () => {
    let caught: unknown;
    try {
      assertTensorsMatch(
        expected,
        {
          weight_ih_l0: { shape: [16, 5], dtype: 'F32' },
          bias_ih_l0: { shape: [16], dtype: 'F64' },
          bias_hh_l0: { shape: [16], dtype: 'F32' },
        },
        'm.safetensors',
      );
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(TensorLayoutMismatchError);
    expect(caught).toBeInstanceOf(CheckpointMismatchError);
    const error = caught as TensorLayoutMismatchError;
    expect(error.missing).toEqual(['weight_hh_l0']);
    expect(error.unexpected).toEqual(['bias_hh_l0']);
    expect(error.wrongLayout.map((d) => d.name)).toEqual(['bias_ih_l0', 'weight_ih_l0']);
    expect(error.message).toBe(
      'tensors of m.safetensors do not match the model: missing weight_hh_l0; unexpected bias_hh_l0; ' +
        'bias_ih_l0 expected F32[16] got F64[16]; weight_ih_l0 expected F32[16,3] got F32[16,5]',
    );
  });

  it('tells a scalar from a one-element vector', () => {
    expect(() => assertTensorsMatch({ t: { shape: [], dtype: 'I64' } }, { t: { shape: [1], dtype: 'I64' } }, 's')).toThrow(
      /t expected I64\[\] got I64\[1\]/,
    );
  });
});
