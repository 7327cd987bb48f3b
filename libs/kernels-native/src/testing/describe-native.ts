/**
 * `describe` for tests of the native kernels. Where the addon did not load, the
 * suite FAILS and says how to build it — a missing native build must not pass
 * silently. Only an explicit UNROLL_NATIVE=0 (the tfjs-only configuration, chosen
 * on purpose) skips it.
 */
import { loadNativeKernels } from '../native-kernels';

export function describeNative(name: string, body: () => void): void {
  const load = loadNativeKernels();
  if (load.ok) {
    describe(name, body);
  } else if (process.env.UNROLL_NATIVE === '0') {
    describe.skip(name, body);
  } else {
    describe(name, () => {
      it('needs the native addon', () => {
        throw new Error(
          `the native kernels did not load (${load.reason}). Build them: apt-get install libopenblas-openmp-dev g++ make && npm run build:native -w @unroll/kernels-native — or set UNROLL_NATIVE=0 to test the tfjs path alone`,
        );
      });
    });
  }
}
