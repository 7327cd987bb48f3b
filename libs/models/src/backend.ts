/**
 * Compute backend selection.
 *
 * `cpu` (tfjs-backend-cpu) and `wasm` (tfjs-backend-wasm, XNNPACK + SIMD) work
 * everywhere. `tensorflow` / `tensorflow-gpu` load `@tensorflow/tfjs-node` /
 * `@tensorflow/tfjs-node-gpu` when those packages are installed (the GPU container
 * image installs them; a plain install cannot, their install step downloads
 * libtensorflow). `auto` takes the best one present: tensorflow-gpu, tensorflow,
 * then wasm.
 */
import { tf } from './tf';

export type BackendName = 'auto' | 'cpu' | 'wasm' | 'tensorflow' | 'tensorflow-gpu';

export interface BackendInfo {
  /** The backend tfjs is running on. */
  name: Exclude<BackendName, 'auto'>;
  /** Human-readable detail: SIMD for wasm, device for tensorflow. */
  detail: string;
}

export class BackendUnavailableError extends Error {
  constructor(name: BackendName, reason: string) {
    super(`backend '${name}' is not available: ${reason}`);
    this.name = 'BackendUnavailableError';
  }
}

function tryRequire(pkg: string): Error | undefined {
  try {
     
    require(pkg);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

async function useWasm(): Promise<BackendInfo> {
  const err = tryRequire('@tensorflow/tfjs-backend-wasm');
  if (err) throw new BackendUnavailableError('wasm', err.message);
  if (!(await tf.setBackend('wasm'))) throw new BackendUnavailableError('wasm', 'initialisation failed');
  await tf.ready();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return { name: 'wasm', detail: simd ? 'SIMD' : 'no SIMD' };
}

async function useNode(name: 'tensorflow' | 'tensorflow-gpu'): Promise<BackendInfo> {
  const pkg = name === 'tensorflow' ? '@tensorflow/tfjs-node' : '@tensorflow/tfjs-node-gpu';
  const err = tryRequire(pkg);
  if (err) throw new BackendUnavailableError(name, `${pkg} is not installed (${err.message.split('\n')[0]})`);
  if (!(await tf.setBackend('tensorflow'))) throw new BackendUnavailableError(name, 'initialisation failed');
  await tf.ready();
  return { name, detail: pkg };
}

/** Selects and initialises a backend; throws BackendUnavailableError when it cannot. */
export async function selectBackend(name: BackendName): Promise<BackendInfo> {
  switch (name) {
    case 'cpu':
      await tf.setBackend('cpu');
      await tf.ready();
      return { name: 'cpu', detail: 'tfjs-backend-cpu' };
    case 'wasm':
      return useWasm();
    case 'tensorflow':
    case 'tensorflow-gpu':
      return useNode(name);
    case 'auto':
      for (const candidate of ['tensorflow-gpu', 'tensorflow'] as const) {
        try {
          return await useNode(candidate);
        } catch {
          // not installed here: fall through to the next candidate
        }
      }
      return useWasm();
  }
}
