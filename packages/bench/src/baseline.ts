import { Redis } from "ioredis";
import { deadline, type MessagePath } from "./drivers.js";

/**
 * The baseline: the least work that moves the same bytes through the same Redis. Plain ioredis
 * PUBLISH on one connection, a subscriber callback on another, JSON.parse, done. No envelope, no
 * validation, no calendar, no logging: what the project's path is compared against.
 */
export class PlainRedisBaseline implements MessagePath {
  readonly label = "baseline (plain ioredis)";
  handled: () => void = () => {};
  private sent = 0;
  private constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly channel: string,
    private readonly smallMessages: readonly string[],
  ) {
    subscriber.on("message", (_channel: string, message: string) => {
      JSON.parse(message);
      this.handled();
    });
  }

  /** `smallMessages` are sent in turn by `send()`. */
  static async connect(
    url: string,
    channel: string,
    smallMessages: readonly string[],
  ): Promise<PlainRedisBaseline> {
    const publisher = new Redis(url, { connectionName: "bench-baseline-pub" });
    const subscriber = new Redis(url, { connectionName: "bench-baseline-sub" });
    await subscriber.subscribe(channel);
    return new PlainRedisBaseline(publisher, subscriber, channel, smallMessages);
  }

  async send(): Promise<void> {
    this.sent += 1;
    await this.publisher.publish(
      this.channel,
      this.smallMessages[this.sent % this.smallMessages.length] as string,
    );
  }

  /** Publishes `body` once and answers the ms until the subscriber has parsed it. */
  async timeSnapshot(body: string, timeoutMs: number): Promise<number> {
    const parsed = new Promise<number>((resolve) => {
      this.handled = () => resolve(performance.now());
    });
    const started = performance.now();
    const receivers = await this.publisher.publish(this.channel, body);
    if (receivers !== 1) throw new Error(`baseline PUBLISH reached ${receivers} subscribers, expected 1`);
    const done = await deadline(parsed, timeoutMs, () => "baseline snapshot not parsed");
    return done - started;
  }

  async close(): Promise<void> {
    this.publisher.disconnect();
    this.subscriber.disconnect();
  }
}
