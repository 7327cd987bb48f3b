/** `unroll train <spec.yaml> [--steps N] [--out DIR] [--json]`: one process, checkpoints in DIR. */
import path from 'node:path';
import { runTraining, type RunEvent } from '@unroll/bptt';
import { backendFlag, dataRoot, kernelFlag, logToStderr, positiveInt, readSpec, threadsFlag } from '../context';
import { ProgressLine } from '../progress';

export interface TrainFlags {
  steps?: string;
  out?: string;
  json?: boolean;
  dataRoot?: string;
  backend?: string;
  kernel?: string;
  threads?: string;
}

export async function trainCommand(specFile: string, flags: TrainFlags): Promise<number> {
  const spec = readSpec(specFile);
  const steps = positiveInt('--steps', flags.steps);
  const backend = backendFlag(flags.backend);
  const kernel = { kernel: kernelFlag(flags.kernel), threads: threadsFlag(flags.threads), log: logToStderr };
  const outDir = path.resolve(flags.out ?? path.join('checkpoints', spec.metadata.name));
  const progress = new ProgressLine({ write: (t) => process.stderr.write(t), isTTY: process.stderr.isTTY });
  const onEvent = (e: RunEvent): void => {
    switch (e.type) {
      case 'start':
        progress.message(
          `unroll: ${spec.metadata.name}: ${e.model}, ${e.parameters.toLocaleString('en-US')} parameters; ` +
            `backend ${e.backend.name} (${e.backend.detail}); kernel ${e.kernel.name}; ${e.streams} streams × ${e.trainPositions.toLocaleString('en-US')} positions` +
            (e.resumedFrom !== undefined ? `; resuming from step ${e.resumedFrom}` : ''),
        );
        break;
      case 'step':
        progress.step(e);
        break;
      case 'eval':
        progress.message(`${e.final ? 'validation' : 'validation (partial)'} at step ${e.step}: loss ${e.result.loss.toFixed(4)}, ${e.result.bitsPerToken.toFixed(3)} bits/token over ${e.result.tokens.toLocaleString('en-US')} tokens`);
        break;
      case 'checkpoint':
        break;
    }
  };
  const summary = await runTraining({ spec, dataRoot: dataRoot(flags.dataRoot), outDir, steps, backend, kernel, onEvent });
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify({ steps: summary.steps, loss: summary.validation.loss, tokens: summary.validation.tokens, bitsPerToken: summary.validation.bitsPerToken, checkpoint: summary.checkpoint, backend: summary.backend.name, kernel: summary.kernel, tokensPerSecond: summary.tokensPerSecond })}\n`,
    );
  } else {
    progress.message(`validation bits/char: ${summary.validation.bitsPerToken.toFixed(3)}`);
    progress.message(`checkpoint: ${summary.checkpoint}`);
  }
  return 0;
}
