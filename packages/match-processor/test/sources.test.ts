import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { type Match, MatchSchema, matchKickoff, stockholmDate } from "@fogis/message-schema";
import { answerEndlessly, type EndlessAnswer, fogisMatchList } from "@fogis/testing";
import { afterEach, describe, expect, it } from "vitest";
import {
  DemoMatchSource,
  FileMatchSource,
  HttpMatchSource,
  MatchSourceError,
  readMatchEntries,
} from "../src/sources.js";
import { tempDir } from "./helpers.js";

const list = fogisMatchList(3);

describe("readMatchEntries", () => {
  it.each([
    ["a JSON array", list],
    ["{matchlista: [...]}", { matchlista: list }],
    ["the raw FOGIS answer {d: {matchlista}}", { d: { matchlista: list } }],
    ["{d: <JSON string>}", { d: JSON.stringify({ matchlista: list }) }],
  ])("reads %s", (_shape, value) => {
    const entries = readMatchEntries(value, "test") as Match[];
    expect(entries.map((m) => m.matchid)).toEqual(list.map((m) => m.matchid));
    // Unknown FOGIS fields pass through untouched.
    expect(entries[0]?.label).toBe(list[0]?.label);
  });

  it("accepts an empty list (a referee with no assignments)", () => {
    expect(readMatchEntries({ matchlista: [] }, "test")).toEqual([]);
  });

  it.each([
    ["an object without matchlista", { matches: list }],
    ["null", null],
    ["{d: null}", { d: null }],
  ])("rejects %s instead of reading it as an empty list", (_what, value) => {
    expect(catchError(() => readMatchEntries(value, "fogis")).code).toBe("bad_shape");
  });
});

describe("FileMatchSource", () => {
  it("reads the file on every fetch, so edits are picked up", async () => {
    const path = join(tempDir(), "matches.json");
    writeFileSync(path, JSON.stringify({ d: { matchlista: list } }));
    const source = new FileMatchSource(path);
    expect(await source.fetchMatches()).toHaveLength(3);
    writeFileSync(path, JSON.stringify(list.slice(0, 1)));
    expect(await source.fetchMatches()).toHaveLength(1);
  });

  it("refuses a file larger than MAX_SOURCE_BYTES, naming the limit, without reading all of it", async () => {
    const path = join(tempDir(), "huge.json");
    writeFileSync(path, JSON.stringify(fogisMatchList(40)));
    const error = await catchAsync(new FileMatchSource(path, 16 * 1024).fetchMatches());
    expect(error.code).toBe("too_large");
    expect(error.message).toContain("MAX_SOURCE_BYTES (16384 bytes)");
    expect(await new FileMatchSource(path, 1024 * 1024).fetchMatches()).toHaveLength(40);
  });

  it("says which file is missing, and that unparsable JSON is not JSON", async () => {
    const dir = tempDir();
    const missing = await catchAsync(new FileMatchSource(join(dir, "nope.json")).fetchMatches());
    expect(missing.code).toBe("missing_file");
    expect(missing.message).toContain("nope.json");
    writeFileSync(join(dir, "half.json"), '{"matchlista": [');
    expect((await catchAsync(new FileMatchSource(join(dir, "half.json")).fetchMatches())).code).toBe(
      "not_json",
    );
  });
});

describe("HttpMatchSource", () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
  });

  async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
    server = createServer(handler);
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }

  it("GETs {url}/matches and reads the FOGIS shape", async () => {
    const paths: string[] = [];
    const url = await serve((req, res) => {
      paths.push(req.url ?? "");
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ d: JSON.stringify({ matchlista: list }) }));
    });
    const matches = await new HttpMatchSource({ url, timeoutMs: 1000 }).fetchMatches();
    expect(matches).toHaveLength(3);
    expect(paths).toEqual(["/matches"]);
  });

  it("stops reading an answer at MAX_SOURCE_BYTES and fails with the reason, instead of reading it all", async () => {
    let answer: EndlessAnswer | undefined;
    const url = await serve((_req, res) => {
      answer = answerEndlessly(res, `${JSON.stringify(list[0])},`.repeat(200), {
        head: '{"matchlista": [',
        tail: "{}]}",
      });
    });
    const error = await catchAsync(
      new HttpMatchSource({ url, timeoutMs: 10_000, maxBytes: 256 * 1024 }).fetchMatches(),
    );
    expect(error.code).toBe("too_large");
    expect(error.message).toContain("larger than MAX_SOURCE_BYTES (262144 bytes)");
    await expect.poll(() => answer?.closedEarly).toBe(true);
    expect(answer?.written).toBeLessThan(16 * 1024 * 1024);
  });

  it("refuses an answer whose Content-Length is over the limit before reading it", async () => {
    const body = JSON.stringify({ matchlista: fogisMatchList(20) });
    const url = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
    const small = new HttpMatchSource({ url, timeoutMs: 1000, maxBytes: 4096 });
    expect((await catchAsync(small.fetchMatches())).code).toBe("too_large");
    expect(await new HttpMatchSource({ url, timeoutMs: 1000 }).fetchMatches()).toHaveLength(20);
  });

  it("fails with the status on HTTP 500", async () => {
    const url = await serve((_req, res) => {
      res.writeHead(500).end("boom");
    });
    const error = await catchAsync(new HttpMatchSource({ url, timeoutMs: 1000 }).fetchMatches());
    expect(error.code).toBe("http_status");
    expect(error.message).toContain("answered 500");
  });

  it("gives up after the timeout", async () => {
    const url = await serve(() => {
      // never answers
    });
    const started = Date.now();
    const error = await catchAsync(new HttpMatchSource({ url, timeoutMs: 200 }).fetchMatches());
    expect(error.code).toBe("timeout");
    expect(error.message).toContain("within 200 ms");
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("says the service is unreachable when nothing listens", async () => {
    const url = await serve(() => {});
    await new Promise((resolve) => server?.close(resolve));
    const error = await catchAsync(new HttpMatchSource({ url, timeoutMs: 1000 }).fetchMatches());
    expect(error.code).toBe("unreachable");
    expect(error.message).toContain("ECONNREFUSED");
  });
});

describe("DemoMatchSource", () => {
  it("serves several valid, upcoming matches with referees and team contacts", async () => {
    const now = new Date();
    const matches = (await new DemoMatchSource(now).fetchMatches()) as Match[];
    expect(matches.length).toBeGreaterThanOrEqual(4);
    for (const match of matches) {
      expect(MatchSchema.safeParse(match).success).toBe(true);
      expect(matchKickoff(match)?.getTime()).toBeGreaterThan(now.getTime());
      expect(match.domaruppdraglista?.length).toBeGreaterThan(0);
      expect(match.kontaktpersoner?.length).toBeGreaterThan(0);
      // speldatum/avsparkstid and tid describe the same kick-off.
      expect(stockholmDate(matchKickoff({ tid: match.tid }) as Date)).toBe(match.speldatum);
    }
  });

  it("keeps the same list all week, so restarts do not look like date changes", async () => {
    const monday = new DemoMatchSource(new Date("2026-11-16T08:00:00Z"));
    const sunday = new DemoMatchSource(new Date("2026-11-22T20:00:00Z"));
    expect(await sunday.fetchMatches()).toEqual(await monday.fetchMatches());
    const nextWeek = await new DemoMatchSource(new Date("2026-11-23T08:00:00Z")).fetchMatches();
    expect((nextWeek as Match[])[0]?.speldatum).not.toBe(
      ((await monday.fetchMatches()) as Match[])[0]?.speldatum,
    );
  });
});

function catchError(fn: () => unknown): MatchSourceError {
  try {
    fn();
  } catch (error) {
    return error as MatchSourceError;
  }
  throw new Error("expected an error");
}

async function catchAsync(promise: Promise<unknown>): Promise<MatchSourceError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(MatchSourceError);
    return error as MatchSourceError;
  }
  throw new Error("expected an error");
}
