import type { IncomingMessage, ServerResponse } from "node:http";
import { LoopbackServer } from "./loopback-server.js";

/**
 * A stand-in for the Python calendar service's `POST /manual-sync` (PitchConnect
 * fogis-calendar-phonebook-sync), which cannot run here. It answers as that route does:
 * - a body that is not a JSON value, or is empty/falsy -> 400 `Missing JSON data in request`
 *   (Flask's `get_json(force=True, silent=True)` gives None);
 * - anything but an object with a top-level `matches` -> 400 `Missing 'matches' in request data`,
 *   a bare match list included (`"matches" not in data` asks a list whether it holds that string);
 *   a number or boolean makes that test raise -> 500;
 * - `matches` that is not a list -> 500 (seen for null, a number and a string);
 * - otherwise it hands the matches to its calendar sync and answers 200
 *   `{success: true, matches_processed, timestamp}`.
 * Checked against the real route (app.py with Google's client stubbed), body by body. It reads no
 * other field and no Authorization header. What it synced is kept in `synced`.
 */
export class PythonManualSyncStandIn {
  /** The `matches` of every body it accepted, in order. */
  readonly synced: unknown[] = [];
  /** Every answer it gave: status and the `error` text, if any. */
  readonly answers: Array<{ status: number; error?: string }> = [];
  private readonly http = new LoopbackServer();

  get url(): string {
    if (!this.http.listening) throw new Error("the stand-in is not started");
    return `http://127.0.0.1:${this.http.port}`;
  }

  async start(): Promise<this> {
    await this.http.start((req, res) => void this.handle(req, res));
    return this;
  }

  async stop(): Promise<void> {
    await this.http.stop();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== "POST" || req.url !== "/manual-sync") {
      res.writeHead(404).end();
      return;
    }
    let data: unknown = null;
    try {
      data = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      data = null;
    }
    if (!isTruthy(data)) return this.answer(res, 400, "Missing JSON data in request");
    if (typeof data === "number" || typeof data === "boolean") {
      return this.answer(
        res,
        500,
        `argument of type '${typeof data === "number" ? "int" : "bool"}' is not iterable`,
      );
    }
    if (typeof data !== "object" || data === null || Array.isArray(data) || !("matches" in data)) {
      return this.answer(res, 400, "Missing 'matches' in request data");
    }
    const matches = data.matches;
    if (!Array.isArray(matches)) return this.answer(res, 500, "matches is not a list");
    this.synced.push(matches);
    this.answers.push({ status: 200 });
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        success: true,
        matches_processed: matches.length,
        timestamp: new Date().toISOString(),
      }),
    );
  }

  private answer(res: ServerResponse, status: number, error: string): void {
    this.answers.push({ status, error });
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify({ success: false, error }));
  }
}

/** Python's truthiness of a JSON value, as `if not data:` sees it. */
function isTruthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === "object" && value !== null) return Object.keys(value).length > 0;
  return Boolean(value);
}
