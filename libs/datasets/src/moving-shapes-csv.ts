/**
 * Writes the ConvLSTM example's data (examples/convlstm-moving-shapes.yaml):
 *   npx tsx libs/datasets/src/moving-shapes-csv.ts data/moving-shapes-16.csv
 * 4000 frames of 16×16 pixels, 2 shapes, seed 2015 — the example's numbers.
 */
import { writeFileSync } from 'node:fs';
import { EXAMPLE_MOVING_SHAPES, movingShapesCsv } from './moving-shapes';


if (require.main === module) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: moving-shapes-csv <output.csv>');
    process.exit(2);
  }
  writeFileSync(out, movingShapesCsv(EXAMPLE_MOVING_SHAPES));
  console.log(`wrote ${EXAMPLE_MOVING_SHAPES.frames - 1} rows of ${2 * EXAMPLE_MOVING_SHAPES.size ** 2} values to ${out}`);
}
