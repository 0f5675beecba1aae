import { createServer } from "node:http";
import { Redis } from "ioredis";

/**
 * The baseline as a process: plain Node with ioredis and node:http, no framework. It receives a
 * message over HTTP (`POST /`, answered after JSON.parse) or Redis (`CHANNEL`), parses it and keeps
 * the last one, as a service keeps its state. Used for the HTTP fallback's baseline and as the
 * memory floor the services' RSS is compared with. Started by the bench, never by users.
 */

let last: unknown;
let received = 0;
const keep = (text: string) => {
  last = JSON.parse(text);
  received += 1;
};

const redisUrl = process.env.REDIS_URL;
const channel = process.env.CHANNEL;
if (redisUrl && channel) {
  const subscriber = new Redis(redisUrl, { connectionName: "bench-baseline-service" });
  subscriber.on("message", (_channel: string, message: string) => keep(message));
  await subscriber.subscribe(channel);
}

const server = createServer((req, res) => {
  if (req.method === "GET") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: "ok", received, holding: last !== undefined }));
    return;
  }
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    keep(Buffer.concat(chunks).toString("utf8"));
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"success":true}');
  });
});
server.listen(Number(process.env.PORT), "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
