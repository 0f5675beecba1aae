import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jsonPieces } from "../src/files.js";
import { readJsonFile, writeJsonAtomic } from "../src/index.js";

describe("state files", () => {
  it("write atomically and read back, leaving no temp files", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fogis-files-"));
    const path = join(dir, "nested", "state.json");
    await writeJsonAtomic(path, { sequence: 1 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => writeJsonAtomic(path, { sequence: i })));
    const read = await readJsonFile(path);
    expect(read.state).toBe("ok");
    expect(readdirSync(join(dir, "nested"))).toEqual(["state.json"]);
  });

  it("tell a missing file from a corrupt one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fogis-files-"));
    expect(await readJsonFile(join(dir, "none.json"))).toEqual({ state: "missing" });
    writeFileSync(join(dir, "half.json"), '{"matches": [1, 2');
    const corrupt = await readJsonFile(join(dir, "half.json"));
    expect(corrupt.state).toBe("corrupt");
  });
});

describe("jsonPieces", () => {
  const text = (value: unknown) => [...jsonPieces(value)].join("");

  it("writes exactly what JSON.stringify writes, for any JSON value", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(text(value)).toBe(`${JSON.stringify(value)}\n`);
      }),
    );
  });

  it("follows JSON.stringify for what JSON cannot hold: undefined, functions, toJSON, class instances", () => {
    const value = {
      when: new Date(Date.UTC(2026, 10, 29)),
      gone: undefined,
      fn: () => 1,
      list: [undefined, () => 1, Symbol("s"), new Date(0), { toJSON: () => undefined }],
      nested: { deeper: { deepest: [undefined, { x: undefined }] }, late: { toJSON: () => "late" } },
      skipped: { toJSON: () => undefined },
      map: new Map([[1, 2]]),
      boxed: [new String("s"), new Number(1)],
      proto: Object.assign(Object.create(null), { a: 1 }),
    };
    expect(text(value)).toBe(`${JSON.stringify(value)}\n`);
  });

  it("cuts a large list into pieces of about 64k characters", () => {
    const list = Array.from({ length: 1000 }, (_, i) => ({ matchid: i, note: "x".repeat(3000) }));
    const pieces = [...jsonPieces({ version: 1, matches: list })];
    expect(pieces.length).toBeGreaterThan(40);
    expect(Math.max(...pieces.map((piece) => piece.length))).toBeLessThan(64 * 1024 + 4000);
    expect(JSON.parse(pieces.join(""))).toEqual({ version: 1, matches: list });
  });
});
