import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../src/builders.js";
import {
  createMatchUpdatesEnvelope,
  decodeEnvelope,
  decodeSyncRequest,
  encodeEnvelope,
  encodeSyncBody,
  KnownMatches,
  type Match,
  snapshotHash,
} from "../src/index.js";

// biome-ignore lint/suspicious/noExplicitAny: these tests edit envelopes as plain JSON, at any depth
type Json = Record<string, any>;

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");
const matchJson = fixture("fogis-match.json");
const pythonEnvelopeJson = fixture("python-match-updates.json");
const pythonStatusJson = fixture("python-processing-status.json");
const match = () => JSON.parse(matchJson) as Match;
const pythonEnvelope = () => JSON.parse(pythonEnvelopeJson) as Record<string, unknown> & { payload: never };

function rejectionOf(raw: string) {
  const result = decodeEnvelope(raw);
  if (result.ok) throw new Error("expected a rejection");
  return result;
}

describe("decoding what the Python processor publishes", () => {
  it("accepts its match_updates envelope with every field intact", () => {
    const result = decodeEnvelope(pythonEnvelopeJson);
    expect(result.ok).toBe(true);
    if (!result.ok || result.envelope.type !== "match_updates") return;
    const { payload } = result.envelope;
    expect(payload.matches).toHaveLength(1);
    expect(payload.matches[0]?.matchid).toBe(6_201_001);
    expect(payload.matches[0]?.domaruppdraglista?.map((r) => r.domareid)).toEqual([6600, 10_773, 32_062]);
    expect(payload.metadata?.processor_type).toBe("UnifiedMatchProcessor");
    // As the real code writes them: the integer matchid, several changes for one new match,
    // `+00:00` and microseconds, categories of its own (status_change), change_summary {}.
    expect(payload.detailed_changes?.map((c) => c.category)).toEqual([
      "new_assignment",
      "date_change",
      "time_change",
      "venue_change",
      ...Array(4).fill("team_change"),
      ...Array(3).fill("status_change"),
    ]);
    expect(payload.detailed_changes?.every((c) => c.match_id === 6_201_001)).toBe(true);
    expect(payload.detailed_changes?.[0]?.timestamp).toMatch(/\.\d{6}\+00:00$/);
    expect(payload.metadata?.change_summary).toEqual({});
    expect(result.dropped).toEqual([]);
  });

  it("accepts its processing_status envelope", () => {
    const result = decodeEnvelope(pythonStatusJson);
    expect(result.ok && result.envelope.type === "processing_status" && result.envelope.payload.status).toBe(
      "completed",
    );
  });

  it("accepts bytes as well as text", () => {
    expect(decodeEnvelope(Buffer.from(pythonEnvelopeJson)).ok).toBe(true);
  });

  it("accepts schema_version at the top level instead of in the payload", () => {
    const envelope = pythonEnvelope() as { schema_version?: string; payload: { schema_version?: string } };
    envelope.schema_version = envelope.payload.schema_version;
    delete envelope.payload.schema_version;
    const result = decodeEnvelope(JSON.stringify(envelope));
    expect(result.ok).toBe(true);
  });

  it("accepts the legacy bare match list as payload and says so", () => {
    const envelope = { ...pythonEnvelope(), payload: [match()] };
    const result = decodeEnvelope(JSON.stringify(envelope));
    expect(result.ok).toBe(true);
    if (!result.ok || result.envelope.type !== "match_updates") return;
    expect(result.legacy).toEqual(["bare_match_list"]);
    expect(result.envelope.payload.matches[0]?.matchid).toBe(6_201_001);
  });
});

describe("informational parts: a malformed one is dropped and reported, never a rejection", () => {
  const decoded = (edit: (payload: Json) => void) => {
    const envelope = pythonEnvelope() as { payload: Json };
    edit(envelope.payload);
    const result = decodeEnvelope(JSON.stringify(envelope));
    if (!result.ok || result.envelope.type !== "match_updates")
      throw new Error(`rejected: ${!result.ok && result.reason}`);
    return { ...result, payload: result.envelope.payload };
  };

  it("drops the detailed changes that do not fit, keeps the others and every match", () => {
    const { payload, dropped } = decoded((p) => {
      delete p.detailed_changes[1].match_id;
      p.detailed_changes[4].category = 7;
      p.detailed_changes.push("not a change");
    });
    expect(payload.matches.map((m) => m.matchid)).toEqual([6_201_001]);
    expect(payload.detailed_changes).toHaveLength(9);
    expect(payload.detailed_changes?.map((c) => c.field_name)).not.toContain("speldatum");
    expect(dropped).toEqual([
      {
        part: "payload.detailed_changes",
        path: "payload.detailed_changes.1",
        reason: expect.stringContaining("match_id"),
      },
      {
        part: "payload.detailed_changes",
        path: "payload.detailed_changes.4",
        reason: expect.stringContaining("category"),
      },
      { part: "payload.detailed_changes", path: "payload.detailed_changes.11", reason: expect.any(String) },
    ]);
  });

  it("drops a malformed flag or metadata field alone, and keeps the rest of the metadata", () => {
    const { payload, dropped } = decoded((p) => {
      p.high_priority = "yes";
      p.metadata.sequence = "7";
      p.metadata.snapshot_hash = 42;
    });
    expect(payload.high_priority).toBeUndefined();
    expect(payload.metadata).toEqual({
      total_matches: 1,
      has_changes: true,
      change_summary: {},
      processing_timestamp: "2026-11-20T08:00:00.100000Z",
      processor_type: "UnifiedMatchProcessor",
    });
    expect(dropped.map((d) => d.path)).toEqual([
      "payload.high_priority",
      "payload.metadata.sequence",
      "payload.metadata.snapshot_hash",
    ]);
  });

  it("drops metadata or detailed_changes of the wrong kind as a whole", () => {
    const { payload, dropped } = decoded((p) => {
      p.metadata = ["not", "metadata"];
      p.detailed_changes = { a: 1 };
    });
    expect(payload.metadata).toBeUndefined();
    expect(payload.detailed_changes).toBeUndefined();
    expect(dropped.map((d) => d.part).sort()).toEqual(["payload.detailed_changes", "payload.metadata"]);
  });

  it("reasons name paths and types, never values", () => {
    const { dropped } = decoded((p) => {
      p.detailed_changes[0].match_id = { secret: "Anna Andersson 070-1234567" };
    });
    expect(JSON.stringify(dropped)).not.toContain("Anna");
  });

  it("a bad match still rejects the envelope, naming the match and not the dropped parts", () => {
    const envelope = pythonEnvelope() as { payload: Json };
    envelope.payload.high_priority = "yes";
    envelope.payload.matches[0].tid = "tomorrow";
    const r = rejectionOf(JSON.stringify(envelope));
    expect(r.reason).toContain("payload.matches.0.tid");
    expect(r.reason).not.toContain("high_priority");
  });

  it("the same with the previous snapshot's matches (KnownMatches)", () => {
    const envelope = pythonEnvelope() as { payload: Json };
    envelope.payload.detailed_changes[0].match_id = null;
    const result = decodeEnvelope(JSON.stringify(envelope), { knownMatches: new KnownMatches() });
    expect(result.ok && result.dropped.map((d) => d.path)).toEqual(["payload.detailed_changes.0"]);
  });
});

describe("rejections say why, and never throw", () => {
  it("non-JSON", () => {
    const r = rejectionOf("{not json");
    expect(r.code).toBe("not_json");
    expect(r.reason).toMatch(/not valid JSON/);
  });

  it("JSON that is not an object", () => {
    expect(rejectionOf("[1,2]").reason).toBe("expected a JSON object, got an array");
  });

  it("a wrong type", () => {
    const r = rejectionOf(JSON.stringify({ ...pythonEnvelope(), type: "match_update" }));
    expect(r.code).toBe("unknown_type");
    expect(r.reason).toContain("'match_update'");
    expect(r.reason).toContain("match_updates, processing_status, system_alert");
  });

  it("a missing type", () => {
    const { type: _type, ...rest } = pythonEnvelope();
    expect(rejectionOf(JSON.stringify(rest)).code).toBe("missing_type");
  });

  it("missing matches", () => {
    const envelope = pythonEnvelope() as { payload: { matches?: unknown } };
    delete envelope.payload.matches;
    const r = rejectionOf(JSON.stringify(envelope));
    expect(r.code).toBe("invalid_envelope");
    expect(r.reason).toContain("payload.matches");
  });

  it("a match without matchid", () => {
    const { matchid: _id, ...rest } = match();
    const r = rejectionOf(JSON.stringify({ ...pythonEnvelope(), payload: { matches: [rest] } }));
    expect(r.reason).toContain("payload.matches.0.matchid");
  });

  it("wrong field types, naming the path but not the value", () => {
    const bad = {
      ...match(),
      lag1namn: 42,
      domaruppdraglista: [{ domarid: 6600, personnamn: "Secret Name" }],
    };
    const r = rejectionOf(JSON.stringify({ ...pythonEnvelope(), payload: { matches: [bad] } }));
    expect(r.reason).toContain("payload.matches.0.lag1namn");
    expect(r.reason).toContain("payload.matches.0.domaruppdraglista.0.domareid");
    expect(r.reason).not.toContain("Secret Name");
  });

  it("an unreadable tid", () => {
    const r = rejectionOf(
      JSON.stringify({ ...pythonEnvelope(), payload: { matches: [{ ...match(), tid: "tomorrow" }] } }),
    );
    expect(r.reason).toContain("payload.matches.0.tid");
  });

  it("an oversized message_id, so no hostile sender can fill the logs through it", () => {
    const r = rejectionOf(JSON.stringify({ ...pythonEnvelope(), message_id: "x".repeat(100_000) }));
    expect(r.reason).toContain("message_id");
    expect(r.reason.length).toBeLessThan(300);
  });

  it("messages over the size limit, before parsing them", () => {
    const r = decodeEnvelope(pythonEnvelopeJson, { maxBytes: 100 });
    expect(r.ok || r.code).toBe("too_large");
  });

  it("arbitrary bytes never throw (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        const result = decodeEnvelope(bytes);
        expect(typeof result.ok).toBe("boolean");
      }),
      { numRuns: 500 },
    );
  });

  it("arbitrary JSON values never throw and are never accepted without matches (property)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const result = decodeEnvelope(JSON.stringify(value) ?? "null");
        if (result.ok && result.envelope.type === "match_updates") {
          expect(Array.isArray(result.envelope.payload.matches)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("a __proto__ key does not change the prototype of the decoded match", () => {
    const raw = pythonEnvelopeJson.replace(
      '"matchid": 6201001,',
      '"matchid": 6201001, "__proto__": {"polluted": true},',
    );
    const result = decodeEnvelope(raw);
    expect(result.ok).toBe(true);
    if (!result.ok || result.envelope.type !== "match_updates") return;
    const decoded = result.envelope.payload.matches[0] as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(decoded.polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("decoding with the previous snapshot's matches (KnownMatches)", () => {
  const envelopeWith = (matches: unknown[]) => JSON.stringify({ ...pythonEnvelope(), payload: { matches } });
  const matchesOf = (result: ReturnType<typeof decodeEnvelope>) => {
    if (!result.ok || result.envelope.type !== "match_updates") throw new Error("expected match updates");
    return result.envelope.payload.matches;
  };

  it("an unchanged match decodes to the same object, a changed one is read anew", () => {
    const known = new KnownMatches();
    const other = { ...match(), matchid: 6_201_002 };
    const [first, second] = matchesOf(
      decodeEnvelope(envelopeWith([match(), other]), { knownMatches: known }),
    );
    const next = matchesOf(
      decodeEnvelope(envelopeWith([match(), { ...other, anlaggningnamn: "Ny arena" }]), {
        knownMatches: known,
      }),
    );
    expect(next[0]).toBe(first);
    expect(next[1]).not.toBe(second);
    expect(next[1]?.anlaggningnamn).toBe("Ny arena");
    expect(next[1]?.matchid).toBe(6_201_002);
  });

  it("decodes to the data a full decode gives, which is the JSON as sent (the schema never changes a match)", () => {
    const odd = {
      ...match(),
      matchid: 6_201_002,
      tid: "2026-05-06T17:00:00",
      domaruppdraglista: null,
      anlaggningnamn: undefined,
      extra: { nested: [1, null, "x"] },
    };
    const raw = envelopeWith([match(), odd]);
    const full = matchesOf(decodeEnvelope(raw));
    expect(matchesOf(decodeEnvelope(raw, { knownMatches: new KnownMatches() }))).toStrictEqual(full);
    expect(full).toStrictEqual(JSON.parse(raw).payload.matches);
  });

  it("rejects what a full decode rejects, naming the same paths", () => {
    const known = new KnownMatches();
    decodeEnvelope(envelopeWith([match()]), { knownMatches: known });
    const { matchid: _id, ...noId } = match();
    for (const bad of [noId, { ...match(), lag1namn: 42 }, { ...match(), tid: "tomorrow" }]) {
      const raw = envelopeWith([match(), bad]);
      const full = decodeEnvelope(raw);
      const cached = decodeEnvelope(raw, { knownMatches: known });
      expect(cached.ok).toBe(false);
      expect(!cached.ok && cached.reason).toBe(!full.ok && full.reason);
    }
    const noMessageId = { ...JSON.parse(envelopeWith([match()])), message_id: "" };
    expect(decodeEnvelope(JSON.stringify(noMessageId), { knownMatches: known }).ok).toBe(false);
  });

  it("a rejected snapshot leaves the remembered matches as they were", () => {
    const known = new KnownMatches();
    const [first] = matchesOf(decodeEnvelope(envelopeWith([match()]), { knownMatches: known }));
    decodeEnvelope(envelopeWith([match(), { ...match(), tid: "tomorrow" }]), { knownMatches: known });
    expect(matchesOf(decodeEnvelope(envelopeWith([match()]), { knownMatches: known }))[0]).toBe(first);
  });

  it("a match nested deeper than JSON.stringify can walk is decoded, not thrown on (it crashed calendar-sync)", () => {
    const known = new KnownMatches();
    const depth = 100_000;
    const raw = envelopeWith([match()]).replace(
      '"matchid":',
      `"extra":${"[".repeat(depth)}1${"]".repeat(depth)},"matchid":`,
    );
    expect(() => JSON.stringify(JSON.parse(raw))).toThrow(RangeError);
    const full = decodeEnvelope(raw);
    for (let i = 0; i < 2; i++) {
      const cached = decodeEnvelope(raw, { knownMatches: known });
      expect(cached.ok).toBe(full.ok);
    }
    expect(full.ok).toBe(true);
  });

  it("accepts exactly what a full decode accepts (property)", () => {
    const known = new KnownMatches();
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant(match()), fc.jsonValue()), { maxLength: 4 }), (matches) => {
        const raw = envelopeWith(matches);
        expect(decodeEnvelope(raw, { knownMatches: known }).ok).toBe(decodeEnvelope(raw).ok);
      }),
      { numRuns: 300 },
    );
  });
});

describe("round trip", () => {
  it("encode(decode(x)) preserves every field, unknown match fields included", () => {
    const result = decodeEnvelope(pythonEnvelopeJson);
    if (!result.ok) throw new Error(result.reason);
    expect(JSON.parse(encodeEnvelope(result.envelope))).toEqual(JSON.parse(pythonEnvelopeJson));
    const decodedMatch = (result.envelope.payload as { matches: Record<string, unknown>[] }).matches[0];
    expect(decodedMatch?.nyttFaltFranFogis).toEqual({ nested: [1, 2, 3] });
    expect(decodedMatch?.kontaktpersoner).toEqual(match().kontaktpersoner);
  });

  it("our envelopes carry sequence, epoch, hash and summary where Python readers ignore them", () => {
    const matches = [match()];
    const envelope = createMatchUpdatesEnvelope({
      matches,
      source: "match-processor",
      sequence: 7,
      processorEpoch: "2f0c6a1e-epoch",
      snapshotHash: snapshotHash(matches),
      changeSummary: { new: 1, updated: 0, removed: 0 },
    });
    const decoded = decodeEnvelope(encodeEnvelope(envelope));
    if (!decoded.ok || decoded.envelope.type !== "match_updates") throw new Error("rejected");
    const { payload } = decoded.envelope;
    // What the Python subscriber reads:
    expect(Array.isArray(payload.matches)).toBe(true);
    expect(payload.schema_version).toBe("2.0");
    expect(decoded.envelope.version).toBe("1.0");
    // What we add, only inside payload.metadata:
    expect(payload.metadata).toMatchObject({
      sequence: 7,
      processor_epoch: "2f0c6a1e-epoch",
      snapshot_hash: snapshotHash(matches),
      total_matches: 1,
    });
    expect(Object.keys(decoded.envelope).sort()).toEqual(
      ["message_id", "payload", "source", "timestamp", "type", "version"].sort(),
    );
  });
});

describe("manual-sync bodies", () => {
  it("our fallback body is the envelope plus a top-level copy of the matches, for the Python service", () => {
    const matches = [match(), { ...match(), matchid: 6_201_002 }];
    const envelope = createMatchUpdatesEnvelope({ matches, source: "match-processor", sequence: 9 });
    const body = JSON.parse(encodeSyncBody(envelope));
    // What the Python calendar service reads: data["matches"].
    expect(body.matches).toEqual(matches);
    // What our calendar-sync reads: the envelope, sequence included, without the copy.
    expect({ ...body, matches: undefined }).toEqual({
      ...JSON.parse(encodeEnvelope(envelope)),
      matches: undefined,
    });
    const decoded = decodeSyncRequest(body);
    if (!decoded.ok) throw new Error(decoded.reason);
    expect(decoded.envelope.payload.metadata?.sequence).toBe(9);
    expect(decoded.envelope.payload.matches.map((m) => m.matchid)).toEqual([6_201_001, 6_201_002]);
    expect("matches" in decoded.envelope).toBe(false);
    expect(decoded.legacy).toEqual([]);
  });

  it("accepts an envelope, {matches:[...]} and a bare list", () => {
    expect(decodeSyncRequest(pythonEnvelope()).ok).toBe(true);
    const fromObject = decodeSyncRequest({ matches: [match()] });
    expect(fromObject.ok && fromObject.envelope.payload.matches).toHaveLength(1);
    const fromList = decodeSyncRequest([match()]);
    expect(fromList.ok && fromList.legacy).toEqual(["bare_match_list"]);
  });

  it("rejects a status envelope and a bad match with a reason", () => {
    const status = decodeSyncRequest(JSON.parse(pythonStatusJson));
    expect(status.ok || status.reason).toContain("expected a match_updates envelope");
    const bad = decodeSyncRequest({ matches: [{ matchid: "x" }] });
    expect(bad.ok || bad.reason).toContain("matches.0.matchid");
  });
});

describe("snapshot hash", () => {
  it("is the same whatever the order of matches and keys, and changes with any field", () => {
    const a = match();
    const b = { ...match(), matchid: 6_201_002 };
    const reordered = Object.fromEntries(Object.entries(a).reverse()) as Match;
    expect(snapshotHash([a, b])).toBe(snapshotHash([b, reordered]));
    const refereeSwapped = structuredClone(a);
    if (refereeSwapped.domaruppdraglista?.[1]) refereeSwapped.domaruppdraglista[1].domareid = 99;
    expect(snapshotHash([a, b])).not.toBe(snapshotHash([refereeSwapped, b]));
  });

  it("is the sha256 of the canonical JSON of the list ordered by matchid", () => {
    const a = match();
    const b = { ...match(), matchid: 6_201_002 };
    for (const list of [[], [a], [b, a]]) {
      const ordered = [...list].sort((x, y) => x.matchid - y.matchid);
      const expected = createHash("sha256").update(canonicalJson(ordered)).digest("hex");
      expect(snapshotHash(list)).toBe(expected);
    }
  });
});
