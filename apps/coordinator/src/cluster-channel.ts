/**
 * Discovery, the writer's half: every generation an experiment opens is also
 * announced on one well-known channel that every worker listens to, because a
 * worker subscribes to an experiment's own channel only once it knows the
 * experiment exists:
 *
 *   {type: 'generation', experiment: '_cluster', generation: g, step: s, members: [E]}
 *     = "experiment E opened generation g at step s; read its record"
 *
 * The reader's half is apps/worker/src/cluster-channel.ts. Experiment ids never
 * start with '_'.
 */
import type { ControlMessage } from '@unroll/cluster';

export const CLUSTER_CHANNEL = '_cluster';

export function announcement(experiment: string, generation: number, step: number): ControlMessage {
  return { type: 'generation', experiment: CLUSTER_CHANNEL, generation, step, members: [experiment] };
}
