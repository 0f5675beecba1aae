import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, LoopbackServer } from "@fogis/testing";
import { simpleParser } from "mailparser";

/**
 * Real receivers on loopback for the notification tests: an HTTP server that plays a webhook or an
 * ntfy server (records every request, answers what the test says), and a real SMTP server
 * (Debian's aiosmtpd, storing each message in a Maildir that the test reads with mailparser).
 */

export interface ReceivedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  text: string;
  at: number;
  /** What it was answered; null while it hangs. */
  status: number | null;
}

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  delayMs?: number;
  /** Never answer (the request stays open until the server stops). */
  hang?: boolean;
}

/** Decodes RFC 2047 encoded words the way ntfy does (Go's mime.WordDecoder, B and Q encodings). */
export function decodeEncodedWords(value: string): string {
  return value.replace(
    /=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g,
    (_all, _charset: string, encoding: string, text: string) =>
      encoding.toUpperCase() === "B"
        ? Buffer.from(text, "base64").toString("utf8")
        : Buffer.from(
            text
              .replace(/_/g, " ")
              .replace(/=([0-9A-F]{2})/gi, (_m, hex: string) =>
                String.fromCharCode(Number.parseInt(hex, 16)),
              ),
            "latin1",
          ).toString("utf8"),
  );
}

export class HttpReceiver {
  readonly received: ReceivedRequest[] = [];
  /** How to answer each request; default 200 (Slack's body is "ok", Discord's a message). */
  reply: (request: ReceivedRequest) => Reply = () => ({ status: 200, body: "ok" });
  private readonly http = new LoopbackServer();
  private readonly open = new Set<ServerResponse>();

  url(path = "/"): string {
    return `http://127.0.0.1:${this.http.port}${path}`;
  }

  async start(): Promise<this> {
    await this.http.start(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const request: ReceivedRequest = {
        method: req.method ?? "",
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        text: Buffer.concat(chunks).toString("utf8"),
        at: performance.now(),
        status: null,
      };
      this.received.push(request);
      const reply = this.reply(request);
      request.status = reply.hang ? null : (reply.status ?? 200);
      if (reply.hang) {
        this.open.add(res);
        return;
      }
      if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
      res.writeHead(reply.status ?? 200, { "content-type": "text/plain", ...reply.headers });
      res.end(reply.body ?? "");
    });
    return this;
  }

  /** Requests that were answered 2xx: what a real service would have accepted. */
  delivered(): ReceivedRequest[] {
    return this.received.filter((request) => request.status !== null && request.status < 300);
  }

  async stop(): Promise<void> {
    for (const res of this.open) res.destroy();
    await this.http.stop();
  }
}

/**
 * Python's Maildir names a message "<seconds>.M<microseconds>P<pid>Q<count>.<host>", the count
 * rising with each message of the server process: the order they arrived in.
 */
function deliveryOrder(name: string): number {
  return Number(/Q(\d+)/.exec(name)?.[1] ?? Number.MAX_SAFE_INTEGER);
}

export const AIOSMTPD_HELP =
  "the e-mail tests need a real SMTP server: Debian's aiosmtpd for /usr/bin/python3 (apt-get install python3-aiosmtpd)";

export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
}

/** aiosmtpd on a free loopback port, delivering into a Maildir. */
export class SmtpReceiver {
  private child: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), "fogis-smtp-"));
  private portValue = 0;
  private output = "";

  get port(): number {
    return this.portValue;
  }

  url(credentials = ""): string {
    return `smtp://${credentials}127.0.0.1:${this.portValue}`;
  }

  async start(): Promise<this> {
    const probe = spawnSync("/usr/bin/python3", ["-c", "import aiosmtpd"], { encoding: "utf8" });
    if (probe.status !== 0) throw new Error(`${AIOSMTPD_HELP}\n${probe.error?.message ?? probe.stderr}`);
    for (let attempt = 0; attempt < 5; attempt++) {
      this.portValue = await freePort();
      const child = spawn(
        "/usr/bin/python3",
        [
          "-m",
          "aiosmtpd",
          "-n",
          "-l",
          `127.0.0.1:${this.portValue}`,
          "-c",
          "aiosmtpd.handlers.Mailbox",
          join(this.dir, "mail"),
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      child.stdout?.on("data", (d: Buffer) => (this.output += d.toString()));
      child.stderr?.on("data", (d: Buffer) => (this.output += d.toString()));
      this.child = child;
      if (await this.waitListening(child)) return this;
      child.kill("SIGKILL");
    }
    throw new Error(`aiosmtpd did not start: ${this.output.slice(-500)}`);
  }

  /** Every message received so far, oldest first. */
  async messages(): Promise<ReceivedMail[]> {
    const mails: ReceivedMail[] = [];
    for (const folder of ["new", "cur"]) {
      let names: string[] = [];
      try {
        names = readdirSync(join(this.dir, "mail", folder)).sort(
          (a, b) => deliveryOrder(a) - deliveryOrder(b),
        );
      } catch {
        continue;
      }
      for (const name of names) {
        const parsed = await simpleParser(readFileSync(join(this.dir, "mail", folder, name)));
        const to = parsed.to ? (Array.isArray(parsed.to) ? parsed.to : [parsed.to]) : [];
        mails.push({
          from: parsed.from?.text ?? "",
          to: to.flatMap((address) => address.value.map((v) => v.address ?? "")),
          subject: parsed.subject ?? "",
          text: parsed.text ?? "",
          html: typeof parsed.html === "string" ? parsed.html : "",
        });
      }
    }
    return mails;
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async waitListening(child: ChildProcess): Promise<boolean> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) return false;
      const ok = await new Promise<boolean>((resolve) => {
        const socket = createConnection({ host: "127.0.0.1", port: this.portValue });
        socket.once("data", () => {
          socket.destroy();
          resolve(true);
        });
        socket.once("error", () => resolve(false));
      });
      if (ok) return true;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return false;
  }
}
