/** Small helpers shared by the conformance suites. */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 10 ms until it holds or `timeoutMs` passes (then throws `what`). */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** A fixture a factory returns: the thing under test and how to release it. */
export interface Fixture<T> {
  subject: T;
  close(): Promise<void>;
}

/**
 * Opens a fixture before each test and closes it after; returns its getter. A factory
 * that throws (no Redis) fails the test with its own message, and nothing is closed twice.
 */
export function useFixture<T extends { close(): Promise<void> }>(factory: () => Promise<T>): () => T {
  let current: T | undefined;
  beforeEach(async () => {
    current = await factory();
  });
  afterEach(async () => {
    const opened = current;
    current = undefined;
    await opened?.close();
  });
  return () => {
    if (current === undefined) throw new Error('the fixture is not open');
    return current;
  };
}
