import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fogisMatch, PythonManualSyncStandIn } from "../src/index.js";

/**
 * The stand-in answers each body as the real Python `POST /manual-sync` did when we ran it
 * (fogis-calendar-phonebook-sync's app.py, Google's client stubbed at the edge). Our processor's
 * fallback is tested against this stand-in, so where it is lenient and the real route is not, a
 * fallback body the Python service refuses would pass our tests.
 */

describe("PythonManualSyncStandIn answers like the real route", () => {
  const python = new PythonManualSyncStandIn();
  beforeAll(async () => {
    await python.start();
  });
  afterAll(async () => {
    await python.stop();
  });

  const post = async (body: string) => {
    const response = await fetch(`${python.url}/manual-sync`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it.each([
    [
      "a bare match list",
      JSON.stringify([fogisMatch({ matchid: 1 })]),
      400,
      "Missing 'matches' in request data",
    ],
    [
      "an envelope without a top-level copy",
      JSON.stringify({ type: "match_updates", payload: { matches: [] } }),
      400,
      "Missing 'matches' in request data",
    ],
    ["an empty object", "{}", 400, "Missing JSON data in request"],
    ["an empty list", "[]", 400, "Missing JSON data in request"],
    ["null", "null", 400, "Missing JSON data in request"],
    ["not JSON", "not json", 400, "Missing JSON data in request"],
    ["a string", '"x"', 400, "Missing 'matches' in request data"],
    ["a number", "5", 500, "argument of type 'int' is not iterable"],
    ["matches that are not a list", '{"matches": null}', 500, undefined],
  ])("%s -> %s", async (_name, body, status, error) => {
    const answer = await post(body);
    expect(answer.status).toBe(status);
    expect(answer.body.success).toBe(false);
    if (error) expect(answer.body.error).toBe(error);
  });

  it("a top-level `matches` is synced, whatever else the body holds (an empty list too)", async () => {
    const matches = [fogisMatch({ matchid: 2 }), fogisMatch({ matchid: 3 })];
    const full = await post(JSON.stringify({ type: "match_updates", payload: { matches }, matches }));
    expect(full).toMatchObject({ status: 200, body: { success: true, matches_processed: 2 } });
    expect(await post('{"matches": []}')).toMatchObject({ status: 200, body: { matches_processed: 0 } });
    expect(python.synced.slice(-2)).toEqual([matches, []]);
  });
});
