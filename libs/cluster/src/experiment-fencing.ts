/** The message of a refused commit, the same for every ExperimentStore. */
export function fencingMessage(
  experiment: string,
  expected: { generation: number; step: number },
  got: { generation: number; step: number },
): string {
  return (
    `commit of experiment ${JSON.stringify(experiment)} refused: expected generation ${expected.generation} step ${expected.step}, ` +
    `got generation ${got.generation} step ${got.step}`
  );
}
