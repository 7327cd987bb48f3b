import { ControlBusListeners, deliverControlMessage, encodeControlMessage } from '../control-message';
import { ControlBus, ControlMessage } from '../interfaces';

/**
 * ControlBus inside one process. Messages go through the same JSON encoding and
 * validation as on Redis and are delivered asynchronously in publish order, so code
 * that passes against it does not depend on synchronous delivery.
 */
export class InMemoryControlBus implements ControlBus {
  private readonly handlers = new Map<string, Set<(m: ControlMessage) => void>>();
  private droppedCount = 0;

  constructor(private readonly listeners: ControlBusListeners = {}) {}

  /** Malformed messages dropped so far. */
  get dropped(): number {
    return this.droppedCount;
  }

  async publish(message: ControlMessage): Promise<void> {
    this.publishRaw(message.experiment, encodeControlMessage(message));
  }

  /** Publishes raw text on an experiment's channel, as a foreign or broken publisher could. */
  publishRaw(experiment: string, raw: string): void {
    queueMicrotask(() => {
      const set = this.handlers.get(experiment);
      if (set === undefined || set.size === 0) return;
      if (!deliverControlMessage(experiment, raw, [...set], this.listeners)) this.droppedCount++;
    });
  }

  async subscribe(experiment: string, handler: (m: ControlMessage) => void): Promise<() => Promise<void>> {
    // A wrapper per subscription: subscribing one function twice delivers twice, as on Redis.
    const wrapper = (m: ControlMessage): void => handler(m);
    let set = this.handlers.get(experiment);
    if (set === undefined) this.handlers.set(experiment, (set = new Set()));
    set.add(wrapper);
    return async () => {
      set.delete(wrapper);
    };
  }

  /** Drops every subscription. */
  async close(): Promise<void> {
    this.handlers.clear();
  }
}
