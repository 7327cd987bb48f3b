import type { ChildProcess } from 'node:child_process';

/** A forked benchmark member and the messages it sent, taken in order. */
export class Child<T> {
  private readonly inbox: T[] = [];
  private waiter: (() => void) | undefined;
  constructor(readonly process: ChildProcess) {
    process.on('message', (m: T) => {
      this.inbox.push(m);
      this.waiter?.();
    });
  }
  async next(): Promise<T> {
    while (this.inbox.length === 0) await new Promise<void>((resolve) => (this.waiter = resolve));
    return this.inbox.shift() as T;
  }
}
