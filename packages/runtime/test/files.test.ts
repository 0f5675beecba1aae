import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  jsonPieces,
  previousGenerationPath,
  readJsonFile,
  StateFileWriter,
  writeFileAtomic,
  writeJsonAtomic,
} from "../src/files.js";

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

  it("keep the generation before the current one on request, which survives the current one being overwritten in place", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fogis-files-"));
    const path = join(dir, "calendar.json");
    await writeJsonAtomic(path, { generation: 1 }, { keepPrevious: true });
    expect(readdirSync(dir)).toEqual(["calendar.json"]);
    await writeJsonAtomic(path, { generation: 2 }, { keepPrevious: true });
    await writeJsonAtomic(path, { generation: 3 }, { keepPrevious: true });
    expect(readdirSync(dir).sort()).toEqual(["calendar.json", "calendar.json.previous"]);
    // Garbage written into the current file in place leaves the previous generation alone.
    writeFileSync(path, "\0\0garbage");
    expect(await readJsonFile(previousGenerationPath(path))).toEqual({
      state: "ok",
      value: { generation: 2 },
    });
  });

  it("remove the temp file when a write fails", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fogis-files-"));
    const path = join(dir, "state.json");
    mkdirSync(path); // a directory where the file should go: the final rename fails
    await expect(writeFileAtomic(path, "{}")).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(["state.json"]);
  });
});

describe("StateFileWriter", () => {
  it("reports a fail issue naming the file and the error while writes fail, and clears it after the next write", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fogis-files-"));
    const path = join(dir, "calendar.json");
    const writer = new StateFileWriter();
    await writer.writeJson(path, { ok: 1 });
    expect(writer.issue).toBeUndefined();

    rmSync(path);
    mkdirSync(path);
    await expect(writer.writeJson(path, { ok: 2 })).rejects.toThrow();
    await expect(writer.writeJson(path, { ok: 3 })).rejects.toThrow();
    expect(writer.issue).toMatchObject({ status: "fail", code: "state_write_failed" });
    expect(writer.issue?.message).toContain(path);
    expect(writer.failures[0]?.failures).toBe(2);
    expect(readdirSync(dir)).toEqual(["calendar.json"]);

    rmSync(path, { recursive: true });
    await writer.writeJson(path, { ok: 4 });
    expect(writer.issue).toBeUndefined();
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ ok: 4 });
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
