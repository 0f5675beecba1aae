import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createMatchUpdatesEnvelope } from "@fogis/message-schema";
import { fogisMatchList } from "@fogis/testing";
import { describe, expect, it } from "vitest";
import { STATE_FILES, StateStore } from "../src/state-store.js";
import { tempDir } from "./helpers.js";

const matches = fogisMatchList(3);
const confirmed = {
  sequence: 7,
  snapshotHash: "abc",
  messageId: "m-7",
  deliveredAt: new Date("2026-11-20T08:00:00Z"),
  route: "redis" as const,
};

describe("StateStore", () => {
  it("starts empty in a new DATA_DIR, without complaining", async () => {
    const state = await new StateStore(join(tempDir(), "not-yet")).load();
    expect(state).toEqual({
      previousMatches: [],
      confirmed: null,
      processorEpoch: null,
      sourceKind: null,
      latestEnvelope: null,
      problems: [],
    });
  });

  it("writes previous_matches.json as a plain array (the Python format) and reads everything back", async () => {
    const dir = tempDir();
    const store = new StateStore(dir);
    await store.saveConfirmed(matches, confirmed, { processorEpoch: "epoch-1", sourceKind: "http" });
    const envelope = createMatchUpdatesEnvelope({ source: "test", matches, sequence: 8 });
    await store.saveLatestEnvelope(envelope);

    expect(Array.isArray(JSON.parse(readFileSync(join(dir, STATE_FILES.previousMatches), "utf8")))).toBe(
      true,
    );
    // Atomic writes leave no temp files behind.
    expect(readdirSync(dir).sort()).toEqual(
      [STATE_FILES.latestEnvelope, STATE_FILES.previousMatches, STATE_FILES.processorState].sort(),
    );
    const state = await store.load();
    expect(state.previousMatches).toEqual(matches);
    expect(state.confirmed).toEqual(confirmed);
    expect(state).toMatchObject({ processorEpoch: "epoch-1", sourceKind: "http" });
    expect(state.latestEnvelope?.message_id).toBe(envelope.message_id);
    expect(state.problems).toEqual([]);
  });

  it("reads a previous_matches.json written by the Python processor", async () => {
    const dir = tempDir();
    // json.dump(matches, f, indent=2, ensure_ascii=False): a plain array, pretty-printed.
    writeFileSync(join(dir, "previous_matches.json"), JSON.stringify(matches, null, 2));
    const state = await new StateStore(dir).load();
    expect(state.previousMatches.map((m) => m.matchid)).toEqual(matches.map((m) => m.matchid));
    expect(state.problems).toEqual([]);
  });

  it("reports corrupt files and reads them as empty", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, STATE_FILES.previousMatches), '[{"matchid": 1, "lag1');
    writeFileSync(join(dir, STATE_FILES.processorState), '{"sequence": "seven"}');
    writeFileSync(join(dir, STATE_FILES.latestEnvelope), "{}");
    const state = await new StateStore(dir).load();
    expect(state.previousMatches).toEqual([]);
    expect(state.confirmed).toBeNull();
    expect(state.latestEnvelope).toBeNull();
    expect(state.problems).toHaveLength(3);
    expect(state.problems[0]).toContain("previous_matches.json: not valid JSON");
  });

  it("keeps the valid matches of a partly invalid previous list and says how many it skipped", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, STATE_FILES.previousMatches), JSON.stringify([...matches, { matchid: "x" }]));
    const state = await new StateStore(dir).load();
    expect(state.previousMatches).toHaveLength(3);
    expect(state.problems).toEqual([expect.stringContaining("skipped 1 of 4 invalid matches")]);
  });
});
