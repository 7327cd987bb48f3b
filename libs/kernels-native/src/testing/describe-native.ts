/**
 * `describe` for tests of the native kernels. Where the addon did not load, the
 * suite FAILS and says how to build it — a missing native build must not pass
 * silently. Only an explicit UNROLL_NATIVE=0 (the tfjs-only configuration, chosen
 * on purpose) skips it.
 */
import { loadNativeKernels } from '../native-kernels';

/** Why a native test fails where the addon did not load, and how to build it. */
function notLoaded(reason: string): Error {
  return new Error(
    `the native kernels did not load (${reason}). Build them: apt-get install libopenblas-openmp-dev g++ make && npm run build:native -w @unroll/kernels-native — or set UNROLL_NATIVE=0 to test the tfjs path alone`,
  );
}

export function describeNative(name: string, body: () => void): void {
  const load = loadNativeKernels();
  if (load.ok) {
    describe(name, body);
  } else if (process.env.UNROLL_NATIVE === '0') {
    describe.skip(name, body);
  } else {
    describe(name, () => {
      it('needs the native addon', () => {
        throw notLoaded(load.reason);
      });
    });
  }
}

/** `it` for one test of the native kernels, on the same terms as describeNative. */
export function itNative(name: string, body: () => Promise<void>, timeoutMs?: number): void {
  const load = loadNativeKernels();
  if (load.ok) it(name, body, timeoutMs);
  else if (process.env.UNROLL_NATIVE === '0') it.skip(name, body);
  else
    it(name, () => {
      throw notLoaded(load.reason);
    });
}
