/**
 * The `unroll` command line.
 *
 *   unroll train <spec.yaml> [--steps N] [--out DIR] [--json]      train in one process
 *   unroll eval <spec.yaml> --checkpoint FILE [--input FILE] [--json]
 *   unroll up [--workers N] [--checkpoint-dir DIR] [--redis URL] [--run SPEC]   the local cluster
 *   unroll submit <spec.yaml> [--follow] [--json] [--redis URL]           train on the cluster
 *   unroll doctor [--redis URL] [--json]                                   backends, native kernel, Redis
 *
 * train, eval and up take --kernel auto|native|tfjs (overrides spec.kernel) and
 * --threads N (BLAS threads of the native kernel; else UNROLL_BLAS_THREADS, else the
 * cores available — divided among the workers for `unroll up`).
 *
 * Exit codes: 0 success, 1 failure while running, 2 bad input (spec, flags, paths).
 */
import { Command, CommanderError } from 'commander';
import { SpecError } from '@unroll/spec';
import { doctorCommand } from './commands/doctor';
import { evalCommand } from './commands/eval';
import { submitCommand } from './commands/submit';
import { trainCommand } from './commands/train';
import { upCommand } from './commands/up';
import { EXIT_FAILURE, EXIT_USAGE, UsageError } from './errors';

function isUsageError(e: unknown): boolean {
  return e instanceof SpecError || e instanceof UsageError || (e instanceof Error && (e as NodeJS.ErrnoException).code === 'ENOENT' && /spec|yaml/i.test(e.message));
}

const KERNEL_HELP = 'window kernel: auto | native | tfjs (default: the spec’s, else auto)';
const THREADS_HELP = 'BLAS threads of the native kernel (default: $UNROLL_BLAS_THREADS, else the cores available)';

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = new Command('unroll')
    .description('Truncated-BPTT training of recurrent networks')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const common = (c: Command) => c.option('--data-root <dir>', 'data root (default: $UNROLL_DATA_ROOT or ./data)').option('--backend <name>', 'auto | cpu | wasm | tensorflow | tensorflow-gpu (default: the spec’s)').option('--json', 'print the result as JSON').option('--kernel <name>', KERNEL_HELP).option('--threads <n>', THREADS_HELP);
  common(program.command('train <spec>').description('train in one process, writing checkpoints').option('--steps <n>', 'override spec.steps').option('--out <dir>', 'checkpoint directory (default: checkpoints/<name>)')).action(async (spec: string, flags) => {
    code = await trainCommand(spec, flags);
  });
  common(program.command('eval <spec>').description('loss of a checkpoint on the held-out data or on --input').option('--checkpoint <file>', 'a step-N.safetensors model file').option('--input <file>', 'a text file under the data root, scored as one stream')).action(async (spec: string, flags) => {
    code = await evalCommand(spec, flags);
  });
  const cluster = (c: Command) => c.option('--redis <url>', 'Redis (default: $REDIS_URL, else redis://127.0.0.1:6379)').option('--prefix <name>', 'root of every Redis key and queue (default: $UNROLL_PREFIX or unroll)');
  cluster(
    program
      .command('up')
      .description('start a local cluster: Redis (found or started), the coordinator and N workers')
      .option('--workers <n>', 'worker processes (default 1)')
      .option('--checkpoint-dir <dir>', 'checkpoints go to <dir>/<experiment name>/ (default: ./checkpoints)')
      .option('--data-root <dir>', 'data root of the workers (default: $UNROLL_DATA_ROOT or ./data)')
      .option('--backend <name>', 'compute backend of the workers: auto | cpu | wasm | tensorflow | tensorflow-gpu (default auto)')
      .option('--kernel <name>', 'window kernel of the workers: auto | native | tfjs (default: each spec’s, else auto)')
      .option('--threads <n>', 'BLAS threads of each worker (default: $UNROLL_BLAS_THREADS, else the cores available / --workers)')
      .option('--run <spec>', 'submit this experiment once the cluster is up, follow it, score its final checkpoint, then stop (exit code: the experiment’s)'),
  ).action(async (flags) => {
    code = await upCommand(flags);
  });
  cluster(program.command('submit <spec>').description('queue an experiment on the cluster and print its id').option('--follow', 'print progress until it ends; exit 0 on success, 1 on failure').option('--json', 'print the result as JSON')).action(
    async (spec: string, flags) => {
      code = await submitCommand(spec, flags);
    },
  );
  cluster(program.command('doctor').description('what this machine has: tfjs backends, the native kernel, Redis (exit 0)').option('--threads <n>', THREADS_HELP).option('--json', 'print the facts as JSON')).action(async (flags) => {
    code = await doctorCommand(flags);
  });
  try {
    await program.parseAsync(argv);
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : EXIT_USAGE;
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`unroll: ${message}\n`);
    return isUsageError(e) ? EXIT_USAGE : EXIT_FAILURE;
  }
}
