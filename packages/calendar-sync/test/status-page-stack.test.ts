import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "./helpers.js";
import { demoMatches, type PageStack, startPageStack } from "./status-page-stack.js";

/**
 * The page's pipeline against the real match-processor: its notification targets (DESIGN §12) are
 * steps after the calendar's, read from the processor's own /redis-status. An ntfy server that
 * answers 503 (a real HTTP server on loopback) leaves the calendar right: degraded, not broken.
 */

let ntfy: Server;
// The ntfy server is down for maintenance.
const NTFY_ANSWER = 503;
let stack: PageStack;

beforeAll(async () => {
  ntfy = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(NTFY_ANSWER).end());
  });
  await new Promise<void>((resolve) => ntfy.listen(0, "127.0.0.1", resolve));
  const port = (ntfy.address() as AddressInfo).port;
  stack = await startPageStack({ processorEnv: { NOTIFY_NTFY_URL: `http://127.0.0.1:${port}/fogis-test` } });
});

afterAll(async () => {
  await stack?.close();
  await new Promise((resolve) => ntfy?.close(resolve));
});

describe("notification targets on the status page", () => {
  it("a target that fails to deliver is a step with the reason; the verdict is degraded, not broken", async () => {
    const [first, ...rest] = demoMatches();
    if (!first) throw new Error("no demo match");
    // The first list is setup (no notification); a moved kick-off is news.
    await stack.publish([{ ...first, avsparkstid: "19:45", tid: undefined }, ...rest]);
    const view = await eventually(async () => {
      const body = (await request(stack.url).get("/status.json").set("Accept-Language", "en")).body;
      expect(body.pipeline.at(-1)).toMatchObject({
        id: "notification:ntfy",
        status: expect.stringMatching(/warn|fail/),
      });
      return body;
    }, 20_000);
    expect(view.pipeline.at(-1)).toMatchObject({ name: "Notification: ntfy", affectsCalendar: false });
    expect(view.pipeline.at(-1).reason).toContain("503");
    expect(view.verdict.state).toBe("degraded");
    expect(view.pipeline.slice(0, 4).map((step: { status: string }) => step.status)).toEqual([
      "pass",
      "pass",
      "pass",
      "pass",
    ]);
  });
});
