import { Adam, type AdamLoop, type AdamOptions } from './adam';
import type { Optimizer } from './optimizer';
import { Sgd, type SgdOptions } from './sgd';

export * from './optimizer';
export * from './adam';
export * from './sgd';

export type OptimizerConfig = ({ name: 'adam' } & AdamOptions) | ({ name: 'sgd' } & SgdOptions);

/** @param adamLoop Adam's element loop run elsewhere, bit for bit the same (the native addon's, see AdamLoop) */
export function createOptimizer(cfg: OptimizerConfig, adamLoop?: AdamLoop): Optimizer {
  return cfg.name === 'adam' ? new Adam(cfg, adamLoop) : new Sgd(cfg);
}
