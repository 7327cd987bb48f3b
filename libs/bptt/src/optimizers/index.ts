import { Adam, type AdamOptions } from './adam';
import type { Optimizer } from './optimizer';
import { Sgd, type SgdOptions } from './sgd';

export * from './optimizer';
export * from './adam';
export * from './sgd';

export type OptimizerConfig = ({ name: 'adam' } & AdamOptions) | ({ name: 'sgd' } & SgdOptions);

export function createOptimizer(cfg: OptimizerConfig): Optimizer {
  return cfg.name === 'adam' ? new Adam(cfg) : new Sgd(cfg);
}
