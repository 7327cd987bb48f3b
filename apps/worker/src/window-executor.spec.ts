import { WindowJobElsewhereError, type WindowJob } from '@unroll/cluster';
import { executeWindow, WindowJobRefusedError } from './window-executor';

describe('executeWindow, the membership fence', () => {
  const job: WindowJob = { experiment: 'e', generation: 3, step: 7, firstStream: 0, streams: 2 };
  const neverRead = {
    get: () => {
      throw new Error('read Redis');
    },
    put: () => {
      throw new Error('wrote Redis');
    },
  };

  it('hands back a job of a generation this worker knows it is not in, before reading the record or the state', async () => {
    const run = executeWindow(
      {
        workerId: 'w3',
        experiments: neverRead,
        states: neverRead,
        session: () => Promise.reject(new Error('loaded a session')),
        awaitVersion: () => Promise.reject(new Error('waited')),
        knownGeneration: () => ({ generation: 3, members: ['w1', 'w2'] }),
      },
      job,
    );
    await expect(run).rejects.toBeInstanceOf(WindowJobElsewhereError);
    await expect(run).rejects.toThrow('worker w3 is not a member of generation 3 (w1, w2)');
  });

  it('refuses a job of a run that has ended (failed, cancelled, succeeded) without loading a session', async () => {
    for (const status of ['failed', 'cancelled', 'succeeded'] as const) {
      const run = executeWindow(
        {
          workerId: 'w1',
          experiments: { get: async () => ({ id: 'e', specYaml: '', status, step: 7, generation: 3, members: ['w1', 'w2'], updatedAt: 0 }) },
          states: { get: async () => undefined, put: async () => undefined },
          session: () => Promise.reject(new Error('loaded a session')),
          awaitVersion: () => Promise.reject(new Error('waited')),
        },
        job,
      );
      await expect(run).rejects.toBeInstanceOf(WindowJobRefusedError);
      await expect(run).rejects.toThrow(`window job e/g3/s7/streams 0+2: the experiment is ${status}`);
    }
  });

  it('reads the record when the known generation is another one (the record decides)', async () => {
    let recordReads = 0;
    const run = executeWindow(
      {
        workerId: 'w3',
        experiments: {
          get: async () => {
            recordReads++;
            return { id: 'e', specYaml: '', status: 'running', step: 7, generation: 3, members: ['w1', 'w2'], updatedAt: 0 };
          },
        },
        states: { get: async () => undefined, put: async () => undefined },
        session: () => Promise.reject(new Error('loaded a session')),
        awaitVersion: () => Promise.reject(new Error('waited')),
        knownGeneration: () => ({ generation: 2, members: ['w3'] }),
      },
      job,
    );
    await expect(run).rejects.toBeInstanceOf(WindowJobElsewhereError);
    expect(recordReads).toBe(1);
  });
});
