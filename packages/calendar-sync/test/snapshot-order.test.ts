import { createMatchUpdatesEnvelope, type MatchUpdatesEnvelope } from "@fogis/message-schema";
import { fogisMatch } from "@fogis/testing";
import { describe, expect, it } from "vitest";
import { type Candidate, SnapshotOrder } from "../src/snapshot-order.js";

function snapshot(epoch: string | undefined, sequence: number | undefined, at = "2026-11-20T10:00:00Z") {
  return createMatchUpdatesEnvelope({
    source: `processor-${epoch ?? "python"}`,
    matches: [fogisMatch({ matchid: 1001 })],
    ...(epoch !== undefined ? { processorEpoch: epoch } : {}),
    ...(sequence !== undefined ? { sequence } : {}),
    now: new Date(at),
  });
}

const from = (origin: Candidate["from"], envelope: MatchUpdatesEnvelope): Candidate => ({
  envelope,
  from: origin,
});

describe("SnapshotOrder", () => {
  it("within an epoch, a higher sequence is newer and a lower one a replay, whatever the timestamps", () => {
    const order = new SnapshotOrder();
    expect(order.judge(snapshot("a", 1))).toBe("new_epoch");
    order.accept(snapshot("a", 1));
    order.accept(snapshot("a", 2));
    expect(order.judge(snapshot("a", 3, "2020-01-01T00:00:00Z"))).toBe("newer");
    expect(order.judge(snapshot("a", 2))).toBe("same");
    expect(order.judge(snapshot("a", 1, "2030-01-01T00:00:00Z"))).toBe("older");
    expect(order.isGap(snapshot("a", 4))).toBe(true);
    expect(order.isGap(snapshot("a", 3))).toBe(false);
  });

  it("takes a new epoch as a reset and never goes back to the one it replaced", () => {
    const order = new SnapshotOrder();
    order.accept(snapshot("a", 9, "2030-01-01T00:00:00Z"));
    expect(order.accept(snapshot("b", 1))).toBe("a");
    expect(order.followedEpoch).toBe("b");
    expect(order.judge(snapshot("a", 10))).toBe("retired_epoch");
    // A resync without the processor's word: the key's replaced epoch loses to the new one.
    const { choice } = order.choose([from("redis", snapshot("a", 12, "2031-01-01T00:00:00Z"))]);
    expect(choice.kind).toBe("stale");
  });

  it("on a resync, the epoch the processor names wins over the Redis key, and a live one of another epoch still publishing is foreign", () => {
    const order = new SnapshotOrder();
    order.accept(snapshot("ours", 3));
    const live = from("live", snapshot("theirs", 40));
    const { choice, foreign } = order.choose([
      live,
      from("redis", snapshot("theirs", 40)),
      from("processor", snapshot("ours", 3)),
    ]);
    expect(foreign).toEqual([live]);
    expect(choice).toMatchObject({ kind: "apply", reset: false, candidate: { from: "processor" } });
    order.markForeign(live.envelope, new Date());
    expect(order.judge(snapshot("theirs", 41))).toBe("foreign");
    expect(order.foreign).toEqual([expect.objectContaining({ epoch: "theirs", refused: 1 })]);
  });

  it("follows the processor's new epoch after its reset, even when the key holds the old epoch with a higher sequence", () => {
    const order = new SnapshotOrder();
    order.accept(snapshot("old", 7));
    const { choice, foreign } = order.choose([
      from("redis", snapshot("old", 7)),
      from("processor", snapshot("new", 1)),
    ]);
    expect(foreign).toEqual([]);
    expect(choice).toMatchObject({ kind: "apply", reset: true, candidate: { from: "processor" } });
  });

  it("without the processor's answer, a new epoch in the key is a reset, and the highest sequence of the followed one wins otherwise", () => {
    const order = new SnapshotOrder();
    order.accept(snapshot("a", 2));
    expect(order.choose([from("redis", snapshot("b", 1))]).choice).toMatchObject({
      kind: "apply",
      reset: true,
    });
    expect(order.choose([from("redis", snapshot("a", 5))]).choice).toMatchObject({
      kind: "apply",
      reset: false,
    });
    expect(order.choose([from("redis", snapshot("a", 1))]).choice.kind).toBe("stale");
    expect(order.choose([]).choice.kind).toBe("none");
  });

  it("applies live snapshots without an epoch (the Python processor) and refuses stored ones once an epoch is followed", () => {
    const order = new SnapshotOrder();
    expect(order.judge(snapshot(undefined, undefined))).toBe("unversioned");
    order.accept(snapshot(undefined, undefined, "2026-11-20T10:00:00Z"));
    expect(order.isStaleUnversioned(snapshot(undefined, undefined, "2026-11-20T09:00:00Z"))).toBe(true);
    expect(order.isStaleUnversioned(snapshot(undefined, undefined, "2026-11-20T11:00:00Z"))).toBe(false);
    order.accept(snapshot("a", 1));
    expect(order.isStaleUnversioned(snapshot(undefined, undefined, "2030-01-01T00:00:00Z"))).toBe(true);
  });

  it("survives a restart through toJSON, and forgets the sequence (not the epochs) when the calendar could not be read", () => {
    const order = new SnapshotOrder();
    order.accept(snapshot("a", 4));
    order.accept(snapshot("b", 2));
    const saved = JSON.parse(JSON.stringify(order.toJSON()));
    expect(saved).toEqual({ processor_epoch: "b", sequence: 2, retired: [{ epoch: "a", sequence: 4 }] });

    const restored = new SnapshotOrder(saved);
    expect(restored.judge(snapshot("b", 1))).toBe("older");
    expect(restored.judge(snapshot("a", 5))).toBe("retired_epoch");
    const rebuilding = new SnapshotOrder(saved, { trustSequence: false });
    expect(rebuilding.judge(snapshot("b", 1))).toBe("newer");
    expect(rebuilding.judge(snapshot("a", 5))).toBe("retired_epoch");
  });
});
