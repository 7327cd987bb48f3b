/**
 * Membership changes in the middle of a run (DESIGN "Membership, failure,
 * elasticity"), with real processes (`unroll up`), Redis, BullMQ and the gRPC ring.
 * A worker process SIGKILLed:
 *
 *   - while workers.min members are left, the coordinator opens a new generation of
 *     the survivors and redoes the failed step: the run succeeds, and — the global
 *     batch not depending on the number of workers (invariant 1), nothing of the
 *     failed step committed (invariant 3) — it ends with the checkpoint `unroll
 *     train` writes in one process;
 *   - with fewer than workers.min left it fails, promptly, with an error that names
 *     the dead worker, and `unroll submit --follow` exits 1. No hang.
 * A worker process started during the run joins it at a step boundary (up to
 * workers.max), fetches the committed parameters and optimizer state from a member
 * over gRPC, computes windows from then on, and the run again ends as `unroll train`.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { maxAbsDiffOfFiles, stepFile } from './support/checkpoints';
import { deleteKeys, freshPrefix, EXITED_OK, exitOf, REDIS_URL, runUnroll, startNode, startUp, type NodeProcess, type UpProcess } from './support/processes';
import { tinySpec, tinyWorkspace } from './support/tiny-experiment';

/** The ready line's id of the worker process `pid`. */
function workerId(up: UpProcess, pid: number): string {
  const id = new RegExp(`ready: id (\\S+-${pid}-[0-9a-f]+),`).exec(up.log())?.[1];
  if (!id) throw new Error(`no ready line of worker ${pid}:\n${up.log()}`);
  return id;
}

/** Waits until the coordinator logged step `from`…`from + 4` of `total`. */
async function reachStep(up: { log(): string }, from: number, total: number): Promise<void> {
  const started = Date.now();
  const pattern = new RegExp(`step (${Array.from({ length: 5 }, (_, i) => from + i).join('|')})/${total}\\b`);
  while (!pattern.test(up.log())) {
    if (Date.now() - started > 60_000) throw new Error(`the run did not reach step ${from} within 60 s:\n${up.log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `follow`'s result; if it fails (a hang past its timeout), the error carries the tail of every process's log. */
async function followed<T>(follow: Promise<T>, logs: Record<string, () => string>): Promise<T> {
  try {
    return await follow;
  } catch (e) {
    const tails = Object.entries(logs).map(([name, log]) => `--- ${name}\n${log().split('\n').slice(-40).join('\n')}`);
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n${tails.join('\n')}`);
  }
}

describe('workers that die or join mid-run', () => {
  let dir: string;
  let dataRoot: string;
  let up: UpProcess | undefined;
  const nodes: NodeProcess[] = [];
  const prefixes: string[] = [];

  beforeAll(() => {
    ({ dir, dataRoot } = tinyWorkspace('unroll-loss-'));
  });

  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.stop();
    await up?.stop();
    up = undefined;
  });

  afterAll(async () => {
    for (const prefix of prefixes) await deleteKeys(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  const STEPS = 40;

  /** A 40-step spec of min to max workers (2 to 3), `unroll train` of it started alongside, and a fresh prefix and checkpoint directory. */
  function elasticRun(name: string, workers = { min: 2, max: 3 }) {
    const spec = path.join(dir, `${name}.yaml`);
    writeFileSync(spec, tinySpec({ name, workers: workers.max, minWorkers: workers.min, steps: STEPS, every: STEPS, hidden: 16, layers: 1, tbptt: '{streams: 6, window: 6, stride: 4, microBatch: 2}' }));
    const single = path.join(dir, `single-${name}`);
    const train = runUnroll(['train', spec, '--data-root', dataRoot, '--out', single, '--backend', 'cpu', '--json']);
    const prefix = freshPrefix(name);
    prefixes.push(prefix);
    return { spec, single, train, prefix, ckpt: path.join(dir, `ckpt-${name}`) };
  }

  /** The final checkpoints of the cluster run and of `unroll train`: every tensor within 1e-4. */
  async function expectUnrollTrainsOutcome(run: ReturnType<typeof elasticRun>, name: string, what: string): Promise<void> {
    const t = await run.train;
    expect(exitOf(t)).toEqual(EXITED_OK);
    const cluster = path.join(run.ckpt, name);
    const model = maxAbsDiffOfFiles(stepFile(run.single, STEPS), stepFile(cluster, STEPS));
    const state = maxAbsDiffOfFiles(stepFile(run.single, STEPS, true), stepFile(cluster, STEPS, true));
    process.stdout.write(`${what}; max |Δ| vs unroll train: model ${model.toExponential(2)}, state ${state.toExponential(2)}\n`);
    expect(model).toBeLessThanOrEqual(1e-4);
    expect(state).toBeLessThanOrEqual(1e-4);
  }

  it('with workers.min still alive: a new generation of the survivors redoes the step, and the run ends as unroll train ends', async () => {
    const run = elasticRun('elastic');
    up = startUp(['--workers', '3', '--redis', REDIS_URL, '--prefix', run.prefix, '--data-root', dataRoot, '--checkpoint-dir', run.ckpt, '--backend', 'cpu']);
    const [, , , victim] = await up.ready;
    const victimId = workerId(up, victim);
    const follow = runUnroll(['submit', run.spec, '--follow', '--redis', REDIS_URL, '--prefix', run.prefix], 110_000);
    await reachStep(up, 8, STEPS);
    const killedAt = Date.now();
    process.kill(victim, 'SIGKILL');
    // Its ring neighbours see their streams to it fail, find its ring port closed and
    // withdraw its registration: the coordinator recovers within a liveness poll, well
    // before the heartbeat's 10 s TTL (6.7–10 s after a kill) would have told it.
    let recoveredAfter = Number.NaN;
    while (Date.now() - killedAt < 60_000) {
      if (/recovered \(1 of 3 restarts\)/.test(up.log())) {
        recoveredAfter = (Date.now() - killedAt) / 1000;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const r = await followed(follow, { 'unroll up': () => up?.log() ?? '' });
    const seconds = (Date.now() - killedAt) / 1000;
    expect(exitOf(r)).toEqual(EXITED_OK);
    const log = up.log();
    expect(log).toMatch(new RegExp(`ring peer ${victimId} \\(rank \\d\\): .*; its ring port \\S+ refuses connections: its process is gone, registration withdrawn`));
    expect(recoveredAfter).toBeLessThan(5);
    // The coordinator saw the loss, opened generation 2 of the two survivors and went on.
    expect(log).toMatch(new RegExp(`lost ${victimId} \\(`));
    const generations = [...log.matchAll(/elastic-\S+: generation (\d+), members (.+)$/gm)].map((m) => ({ generation: Number(m[1]), members: m[2].split(', ') }));
    expect(generations.map((g) => g.members.length)).toEqual([3, 2]);
    expect(generations[1].members).not.toContain(victimId);
    expect(log).toMatch(/recovered \(1 of 3 restarts\): step \d+ redone by 2 members/);
    // After the recovery only the survivors ran window jobs.
    const after = log.slice(log.indexOf('recovered (1 of 3'));
    const ranAfter = new Set([...after.matchAll(/ on ([^ ]+) reduce/g)].flatMap((m) => m[1].split(',')));
    expect(ranAfter.size).toBeGreaterThan(0);
    expect(ranAfter.has(victimId)).toBe(false);

    await expectUnrollTrainsOutcome(run, 'elastic', `worker ${victimId} SIGKILLed at step ~8 of ${STEPS}; recovered after ${recoveredAfter.toFixed(1)} s, run succeeded ${seconds.toFixed(1)} s later with 2 workers`);
  }, 150_000);

  it('a worker started during the run joins at a step boundary with the state of a member, computes from then on, and the run ends as unroll train ends', async () => {
    const run = elasticRun('join');
    const { prefix } = run;
    const common = ['--redis', REDIS_URL, '--prefix', prefix];
    const worker = (id: string, throttleMs: number): NodeProcess =>
      startNode('worker', [...common, '--data-root', dataRoot, '--checkpoint-dir', run.ckpt, '--backend', 'cpu', '--id', id, '--threads', '1', '--throttle-ms', String(throttleMs)]);
    // The first two are slowed (100 ms a window) so that the run is still going when the third is up.
    const coordinator = startNode('coordinator', common);
    nodes.push(coordinator, worker(`a-${prefix.slice(-6)}`, 100), worker(`b-${prefix.slice(-6)}`, 100));
    await Promise.all(nodes.map((n) => n.ready));
    const follow = runUnroll(['submit', run.spec, '--follow', '--redis', REDIS_URL, '--prefix', prefix], 110_000);
    await reachStep(coordinator, 5, STEPS);
    const joinerId = `joiner-${prefix.slice(-6)}`;
    const joiner = worker(joinerId, 0);
    nodes.push(joiner);
    await joiner.ready;
    const r = await followed(follow, Object.fromEntries(nodes.map((n, i) => [`process ${i}`, () => n.log()])));
    expect(exitOf(r)).toEqual(EXITED_OK);
    const log = coordinator.log();
    const joined = new RegExp(`join-\\S+: ${joinerId} joined at step (\\d+); 3 members`).exec(log);
    expect(joined).not.toBeNull();
    const generations = [...log.matchAll(/join-\S+: generation (\d+), members (.+)$/gm)].map((m) => m[2].split(', '));
    expect(generations.map((g) => g.length)).toEqual([2, 3]);
    expect(generations[1][2]).toBe(joinerId);
    // It took the state of the step it joined at from a member, and computed windows after.
    expect(joiner.log()).toMatch(new RegExp(`took the state of join-\\S+ at step ${joined?.[1]} from a member`));
    const after = log.slice(log.indexOf(`${joinerId} joined at step`));
    const ranAfter = new Set([...after.matchAll(/ on ([^ ]+) reduce/g)].flatMap((m) => m[1].split(',')));
    expect(ranAfter.has(joinerId)).toBe(true);

    await expectUnrollTrainsOutcome(run, 'join', `worker ${joinerId} joined at step ${joined?.[1]} of ${STEPS}`);
  }, 150_000);

  it('a worker beyond workers.max, an observer since step 0, is taken in after a member is lost: it loads the committed state again from a member, and the run ends as unroll train ends', async () => {
    const run = elasticRun('observer', { min: 1, max: 2 });
    const { prefix } = run;
    const common = ['--redis', REDIS_URL, '--prefix', prefix];
    const worker = (id: string): NodeProcess =>
      startNode('worker', [...common, '--data-root', dataRoot, '--checkpoint-dir', run.ckpt, '--backend', 'cpu', '--id', id, '--threads', '1', '--throttle-ms', '100']);
    const coordinator = startNode('coordinator', common);
    const ids = ['a', 'b', 'c'].map((n) => `${n}-${prefix.slice(-6)}`);
    const workers = new Map(ids.map((id) => [id, worker(id)]));
    nodes.push(coordinator, ...workers.values());
    await Promise.all(nodes.map((n) => n.ready));
    const follow = runUnroll(['submit', run.spec, '--follow', '--redis', REDIS_URL, '--prefix', prefix], 110_000);
    await reachStep(coordinator, 5, STEPS);
    const first = /observer-\S+: generation 1, members (.+)$/m.exec(coordinator.log())?.[1].split(', ') ?? [];
    expect(first).toHaveLength(2);
    const observer = ids.find((id) => !first.includes(id)) as string;
    const victim = first[1];
    (workers.get(victim) as NodeProcess).child.kill('SIGKILL');
    const r = await followed(follow, { coordinator: () => coordinator.log(), ...Object.fromEntries([...workers].map(([id, w]) => [id, () => w.log()])) });
    expect(exitOf(r)).toEqual(EXITED_OK);
    const log = coordinator.log();
    const generations = [...log.matchAll(/observer-\S+: generation (\d+), members (.+)$/gm)].map((m) => m[2].split(', '));
    // The survivor alone, then the survivor and the observer.
    expect(generations.slice(1)).toEqual([[first[0]], [first[0], observer]]);
    const joined = new RegExp(`${observer} joined at step (\\d+); 2 members`).exec(log);
    expect(joined).not.toBeNull();
    const observerLog = (workers.get(observer) as NodeProcess).log();
    expect(observerLog).toMatch(/parameters are at version 0, the run at step \d+: loading it again from a member/);
    expect(observerLog).toMatch(new RegExp(`took the state of observer-\\S+ at step ${joined?.[1]} from a member`));
    await expectUnrollTrainsOutcome(run, 'observer', `member ${victim} SIGKILLed, observer ${observer} taken in at step ${joined?.[1]} of ${STEPS}`);
  }, 150_000);

  it('with fewer than workers.min left: fails with an error naming it, and submit --follow exits 1', async () => {
    const prefix = freshPrefix('loss');
    prefixes.push(prefix);
    up = startUp(['--workers', '2', '--redis', REDIS_URL, '--prefix', prefix, '--data-root', dataRoot, '--checkpoint-dir', path.join(dir, 'ckpt'), '--backend', 'cpu']);
    const [, , victim] = await up.ready;
    const victimId = workerId(up, victim);
    writeFileSync(path.join(dir, 'long.yaml'), tinySpec({ name: 'loss', workers: 2, steps: 100000, every: 100000, hidden: 16, layers: 1 }));
    const follow = runUnroll(['submit', path.join(dir, 'long.yaml'), '--follow', '--redis', REDIS_URL, '--prefix', prefix], 90_000);
    // Let it train a few steps, then kill one worker for real.
    await reachStep(up, 5, 100000);
    const killedAt = Date.now();
    process.kill(victim, 'SIGKILL');
    const r = await followed(follow, { 'unroll up': () => up?.log() ?? '' });
    const seconds = (Date.now() - killedAt) / 1000;
    expect(r.code).toBe(1);
    // Named either by the survivor whose ring stream broke (a failed report) or as having left the cluster (a step
    // computing); then why it cannot go on. The survivor withdrew its registration on finding its ring port closed,
    // so this takes well under the heartbeat's 10 s TTL.
    expect(r.stderr).toMatch(new RegExp(`failed at step \\d+: .*(ring peer ${victimId} PeerDeadlineError|worker ${victimId} left the cluster).*; 1 member left, workers.min is 2: cannot go on`));
    // A slow failure says what the processes did after the kill.
    if (seconds >= 5) process.stdout.write(`experiment failed ${seconds.toFixed(1)} s after the kill; unroll up's log:\n${up.log().split('\n').slice(-80).join('\n')}\n`);
    expect(seconds).toBeLessThan(5);
    process.stdout.write(`worker ${victimId} SIGKILLed; experiment failed ${seconds.toFixed(1)} s later: ${r.stderr.trim().split('\n').pop()}\n`);
  }, 120_000);
});
