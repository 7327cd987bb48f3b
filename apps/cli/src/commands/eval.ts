/** `unroll eval <spec.yaml> --checkpoint FILE [--input FILE] [--json]`. */
import path from 'node:path';
import { runEvaluation } from '@unroll/bptt';
import { backendFlag, dataRoot, kernelFlag, logToStderr, readSpec, threadsFlag } from '../context';
import { UsageError } from '../errors';

export interface EvalFlags {
  checkpoint?: string;
  input?: string;
  json?: boolean;
  dataRoot?: string;
  backend?: string;
  kernel?: string;
  threads?: string;
}

export async function evalCommand(specFile: string, flags: EvalFlags): Promise<number> {
  const spec = readSpec(specFile);
  if (!flags.checkpoint) throw new UsageError('eval needs --checkpoint FILE (a step-N.safetensors written by unroll train)');
  const result = await runEvaluation({ spec, dataRoot: dataRoot(flags.dataRoot), checkpoint: path.resolve(flags.checkpoint), input: flags.input, backend: backendFlag(flags.backend), kernel: { kernel: kernelFlag(flags.kernel), threads: threadsFlag(flags.threads), log: logToStderr } });
  const out = { loss: result.loss, tokens: result.tokens, bitsPerToken: result.bitsPerToken };
  process.stdout.write(flags.json ? `${JSON.stringify(out)}\n` : `loss ${out.loss.toFixed(4)}  bits/token ${out.bitsPerToken.toFixed(4)}  tokens ${out.tokens}\n`);
  return 0;
}
