/**
 * `spec.optimizer`: the update rule, discriminated on `name`. Parameters and defaults
 * follow PyTorch's `torch.optim.Adam` and `torch.optim.SGD`, so a run can be checked
 * against a PyTorch reference.
 *
 *   adam  m = β1 m + (1-β1) g;  v = β2 v + (1-β2) g²;  θ -= lr · m̂ / (√v̂ + eps)
 *   sgd   b = momentum · b + g;  θ -= lr · (nesterov ? g + momentum · b : b)
 *
 * `weightDecay` adds weightDecay · θ to the gradient before the update in both (L2, as
 * PyTorch's `weight_decay`; not AdamW's decoupled decay).
 */
import { z } from 'zod';
import { bool, exactly, expected, numberIn } from './field-builders';
import { whenValid } from './when-valid';

/** Learning rate, > 0. No default: no single value suits every model and batch size. */
function learningRate() {
  return numberIn({ gt: 0 }).describe('Learning rate, > 0.');
}

/**
 * L2 weight decay, ≥ 0.
 * @defaultValue 0 — no regularisation unless asked, as in PyTorch.
 */
function weightDecay() {
  return numberIn({ gte: 0 }).default(0).describe('L2 weight decay added to the gradient, ≥ 0.');
}

export const adamSchema = z
  .strictObject({
    name: exactly('adam'),
    lr: learningRate(),
    /**
     * Decay rates of the first and second moment estimates, each in [0, 1).
     * @defaultValue [0.9, 0.999] — Kingma & Ba's values, PyTorch's default.
     */
    betas: z
      .tuple([numberIn({ gte: 0, lt: 1 }), numberIn({ gte: 0, lt: 1 })], { error: expected('a list [beta1, beta2] of two numbers in [0, 1)') })
      .default((): [number, number] => [0.9, 0.999])
      .describe('Decay rates of the moment estimates, each in [0, 1).'),
    /**
     * Added to the denominator for numerical stability, > 0.
     * @defaultValue 1e-8 — Kingma & Ba's value, PyTorch's default.
     */
    eps: numberIn({ gt: 0 }).default(1e-8).describe('Added to the denominator for numerical stability, > 0.'),
    weightDecay: weightDecay(),
  })
  .describe('Adam (Kingma & Ba), as torch.optim.Adam.');

export const sgdSchema = z
  .strictObject({
    name: exactly('sgd'),
    lr: learningRate(),
    /**
     * Momentum factor in [0, 1).
     * @defaultValue 0 — plain SGD, as in PyTorch.
     */
    momentum: numberIn({ gte: 0, lt: 1 }).default(0).describe('Momentum factor in [0, 1).'),
    /**
     * Nesterov momentum; needs momentum > 0.
     * @defaultValue false — classical momentum, as in PyTorch.
     */
    nesterov: bool().default(false).describe('Nesterov momentum; needs momentum > 0.'),
    weightDecay: weightDecay(),
  })
  .superRefine(
    (o, ctx) => {
      if (o.nesterov && o.momentum === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['nesterov'],
          input: o.nesterov,
          message: 'expected false when momentum is 0 (Nesterov momentum needs momentum > 0), got true',
        });
      }
    },
    { when: whenValid('nesterov', 'momentum') },
  )
  .describe('Stochastic gradient descent with optional momentum, as torch.optim.SGD.');

export const optimizerSchema = z.discriminatedUnion('name', [adamSchema, sgdSchema]).describe('The update rule, discriminated on name.');

export type AdamSpec = z.output<typeof adamSchema>;
export type SgdSpec = z.output<typeof sgdSchema>;
export type OptimizerSpec = z.output<typeof optimizerSchema>;
