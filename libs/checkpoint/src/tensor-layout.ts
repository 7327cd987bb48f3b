/**
 * Checking a checkpoint's tensors against the tensors a model needs, before copying any of
 * them in: names must match exactly (no missing, no unexpected), and each tensor's dtype and
 * shape must match. All differences are reported at once.
 */
import { Dtype } from './dtypes';
import { TensorLayoutDifference, TensorLayoutMismatchError } from './errors';

export interface TensorLayout {
  shape: readonly number[];
  dtype: Dtype;
}

/**
 * @param expected the tensors the model needs, by name
 * @param got the tensors found, e.g. `readModelFile(path).tensors`
 * @param source the file the tensors came from, for the message
 * @throws TensorLayoutMismatchError (a CheckpointMismatchError) listing every difference
 */
export function assertTensorsMatch(
  expected: Readonly<Record<string, TensorLayout>>,
  got: Readonly<Record<string, TensorLayout>>,
  source: string,
): void {
  const missing = Object.keys(expected).filter((name) => !Object.hasOwn(got, name)).sort();
  const unexpected = Object.keys(got).filter((name) => !Object.hasOwn(expected, name)).sort();
  const wrongLayout: TensorLayoutDifference[] = [];
  for (const name of Object.keys(expected).sort()) {
    if (!Object.hasOwn(got, name)) continue;
    const e = expected[name];
    const g = got[name];
    const sameShape = e.shape.length === g.shape.length && e.shape.every((d, i) => d === g.shape[i]);
    if (!sameShape || e.dtype !== g.dtype) {
      wrongLayout.push({
        name,
        expected: { shape: [...e.shape], dtype: e.dtype },
        got: { shape: [...g.shape], dtype: g.dtype },
      });
    }
  }
  if (missing.length > 0 || unexpected.length > 0 || wrongLayout.length > 0) {
    throw new TensorLayoutMismatchError(source, missing, unexpected, wrongLayout);
  }
}
