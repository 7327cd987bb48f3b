/** Prints the measured numbers of every short run (see short-runs.ts). `npx tsx tests/examples/measure.ts [name…]` */
import { flowRatio, medianFlowRatio, runShort, SHORT_RUNS } from './short-runs';

async function main(): Promise<void> {
  const names = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(SHORT_RUNS);
  for (const name of names) {
    const r = await runShort(name);
    const flow = name.startsWith('adding')
      ? ` flow(32)/flow(1): step 1 ${flowRatio(r.steps[0], 32).toExponential(2)}, last step ${flowRatio(r.lastStep, 32).toExponential(2)}, median of the last 100 steps ${medianFlowRatio(r.steps, 32, 100).toExponential(2)}`
      : '';
    console.log(`${name}: ${r.seconds.toFixed(1)} s, train loss ${r.firstLoss.toFixed(4)} → ${r.lastLoss.toFixed(4)}, validation ${r.validationLoss.toFixed(4)}${flow}`);
  }
}
void main();
