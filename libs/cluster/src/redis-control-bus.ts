import { Redis } from 'ioredis';
import { ControlBusListeners, deliverControlMessage, encodeControlMessage } from './control-message';
import { ControlBus, ControlMessage } from './interfaces';
import { DEFAULT_PREFIX, RedisStoreOptions, validatePrefix } from './lua-script';

export interface RedisControlBusOptions extends RedisStoreOptions, ControlBusListeners {}

/**
 * ControlBus on Redis pub/sub.
 *
 * Channels (P = prefix, E = experiment):
 *   P:exp:E:control   one JSON ControlMessage per PUBLISH
 *
 * A connection in subscriber mode can run no other command, so the bus subscribes on
 * its own duplicate of the given connection (opened on the first subscribe, closed by
 * close()) and publishes on the given one. Redis delivers the messages of one channel
 * in publish order to every subscriber. Pub/sub does not store messages: a member that
 * was not subscribed misses them, which is why every message carries (experiment,
 * generation, step) and the durable truth lives in the ExperimentStore.
 * Messages are validated on receipt; a malformed one is dropped and counted.
 */
export class RedisControlBus implements ControlBus {
  private readonly prefix: string;
  private subscriber: Redis | undefined;
  private readonly channels = new Map<string, { handlers: Set<(m: ControlMessage) => void>; subscribed: Promise<unknown> }>();
  private droppedCount = 0;
  private closed = false;

  /** @param redis publishes on this connection (owned by the caller) and duplicates it to subscribe. */
  constructor(
    private readonly redis: Redis,
    private readonly opts: RedisControlBusOptions = {},
  ) {
    this.prefix = validatePrefix(opts.prefix ?? DEFAULT_PREFIX);
  }

  /** The publishing connection (the caller's). */
  get connection(): Redis {
    return this.redis;
  }

  /** The pub/sub channel of an experiment. */
  channel(experiment: string): string {
    return `${this.prefix}:exp:${experiment}:control`;
  }

  /** Malformed messages dropped so far. */
  get dropped(): number {
    return this.droppedCount;
  }

  async publish(message: ControlMessage): Promise<void> {
    await this.redis.publish(this.channel(message.experiment), encodeControlMessage(message));
  }

  async subscribe(experiment: string, handler: (m: ControlMessage) => void): Promise<() => Promise<void>> {
    if (this.closed) throw new Error('subscribe on a closed RedisControlBus');
    const channel = this.channel(experiment);
    const wrapper = (m: ControlMessage): void => handler(m);
    let sub = this.channels.get(channel);
    if (sub === undefined) {
      // Later subscribers of the channel wait on the same SUBSCRIBE reply.
      sub = { handlers: new Set(), subscribed: this.subscriberConnection().subscribe(channel) };
      this.channels.set(channel, sub);
    }
    sub.handlers.add(wrapper);
    await sub.subscribed;
    const entry = sub;
    return async () => {
      entry.handlers.delete(wrapper);
      if (entry.handlers.size === 0 && this.channels.get(channel) === entry) {
        this.channels.delete(channel);
        if (!this.closed) await this.subscriber?.unsubscribe(channel);
      }
    };
  }

  /** Closes the subscriber connection; the publishing connection belongs to the caller. */
  async close(): Promise<void> {
    this.closed = true;
    this.channels.clear();
    const sub = this.subscriber;
    this.subscriber = undefined;
    if (sub !== undefined) await sub.quit().catch(() => sub.disconnect());
  }

  private subscriberConnection(): Redis {
    if (this.subscriber === undefined) {
      const sub = this.redis.duplicate();
      sub.on('message', (channel: string, raw: string) => this.onMessage(channel, raw));
      sub.on('error', () => undefined); // ioredis reconnects and resubscribes; commands report their own errors
      this.subscriber = sub;
    }
    return this.subscriber;
  }

  private onMessage(channel: string, raw: string): void {
    const handlers = this.channels.get(channel)?.handlers;
    if (handlers === undefined || handlers.size === 0) return;
    const experiment = channel.slice(`${this.prefix}:exp:`.length, -':control'.length);
    if (!deliverControlMessage(experiment, raw, [...handlers], this.opts)) this.droppedCount++;
  }
}
