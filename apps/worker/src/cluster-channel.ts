/**
 * Discovery: how a worker learns that an experiment it does not know yet has made
 * it a member. Control channels are per experiment, so the coordinator also
 * announces every generation it opens on one well-known channel that every worker
 * subscribes to at start:
 *
 *   {type: 'generation', experiment: '_cluster', generation: g, step: s, members: [E]}
 *     = "experiment E opened generation g at step s; read its record"
 *
 * The worker then loads E, subscribes to E's channel and adopts the generation from
 * E's record (members, rank). Announcements are resent while the coordinator waits
 * for reports, so a worker that missed one (pub/sub keeps nothing) still joins.
 * Experiment ids never start with '_'. The coordinator has the writer's half of this
 * file (apps/coordinator/src/cluster-channel.ts).
 */
import type { ControlMessage } from '@unroll/cluster';

export const CLUSTER_CHANNEL = '_cluster';

/** The experiment an announcement names, or undefined if `m` is not one. */
export function announcedExperiment(m: ControlMessage): string | undefined {
  if (m.type !== 'generation' || m.experiment !== CLUSTER_CHANNEL || m.members.length !== 1) return undefined;
  return m.members[0];
}
