/**
 * The adding examples' gradient flow over a whole run: every 100 steps, the mean
 * training loss of the last 100 steps and the median over them of ‖∂L/∂h‖ at lag 32
 * relative to lag 1 (the numbers quoted in examples/adding-*.yaml and the README).
 *
 *   npx tsx tests/examples/adding-flow.ts adding-lstm.yaml [steps] [streams]
 *
 * Defaults: the example's steps and streams, as shipped; cpu backend, kernel as the spec says.
 */
import type { StepResult } from '@unroll/bptt';
import { flowRatio, loadExample, medianFlowRatio, trainExample } from './short-runs';

async function main(): Promise<void> {
  const [example, stepsArg, streamsArg] = process.argv.slice(2);
  const spec = loadExample(example);
  if (streamsArg) spec.spec.tbptt = { ...spec.spec.tbptt, streams: Number(streamsArg), microBatch: Number(streamsArg) };
  const steps: StepResult[] = [];
  const t0 = performance.now();
  const r = await trainExample(spec, stepsArg ? Number(stepsArg) : spec.spec.steps, (s) => {
    steps.push(s);
    const n = steps.length;
    if (n === 1) console.log(`step 1: loss ${s.loss.toFixed(4)}, flow(32)/flow(1) ${flowRatio(s, 32).toExponential(2)}`);
    if (n % 100 === 0) {
      const loss = steps.slice(-100).reduce((a, x) => a + x.loss, 0) / 100;
      console.log(`step ${n}: loss (mean of 100) ${loss.toFixed(4)}, flow(32)/flow(1) median of 100 ${medianFlowRatio(steps, 32, 100).toExponential(2)}, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
  });
  console.log(`${example}: validation ${r.validationLoss.toFixed(4)} after ${steps.length} steps, ${r.seconds.toFixed(1)} s`);
}
void main();
