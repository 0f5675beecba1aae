import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_REPORT_BYTES, ProcessorStatusReader } from "../src/status-page/processor-status.js";

/**
 * The status page reads the processor's `/redis-status` over real HTTP (a local server on a free
 * port): what it makes of a report, and of an answer that is not one.
 */

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("the processor's status, as the page reads it", () => {
  it("reads the report, also from a 503 answer", async () => {
    const url = await serve((_req, res) => {
      res.writeHead(503, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: "fail", delivery_path: "http", last_error: "Redis down" }));
    });
    const reading = await new ProcessorStatusReader({ processorUrl: url }).read();
    expect(reading).toMatchObject({ reachable: true, report: { status: "fail", delivery_path: "http" } });
  });

  it("stops reading an endless answer at its size limit and says why, instead of reading until the timeout", async () => {
    let sent = 0;
    let connectionClosed = false;
    const url = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      const chunk = Buffer.alloc(64 * 1024, " ");
      const more = () => {
        while (!res.destroyed && sent < 256 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", more);
        }
      };
      res.on("close", () => {
        connectionClosed = true;
      });
      res.write("{");
      more();
    });
    const reader = new ProcessorStatusReader({ processorUrl: url, timeoutMs: 60_000 });
    const reading = await reader.read();
    expect(reading).toMatchObject({
      reachable: false,
      error: `${url}/redis-status answered more than ${MAX_REPORT_BYTES} bytes, not a status report`,
    });
    await expect.poll(() => connectionClosed).toBe(true);
    // Socket buffers aside, what was sent stays near the limit, nowhere near the 256 MiB on offer.
    expect(sent).toBeLessThan(32 * 1024 * 1024);
  });
});
