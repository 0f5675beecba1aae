import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
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
