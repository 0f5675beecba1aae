import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./redis.js";

/**
 * Real CalDAV/CardDAV servers for the tests and the benchmark, each started on a free loopback port
 * with its storage in a temp folder: Radicale (with a password, as users run it) and Xandikos (no
 * authentication of its own). Both come from Debian's apt; without them the tests fail and say so.
 */

export type DavServerKind = "radicale" | "xandikos";

export interface DavServerHandle {
  readonly kind: DavServerKind;
  /** Base URL to give CALDAV_URL, e.g. http://127.0.0.1:40123/ */
  readonly url: string;
  readonly port: number;
  readonly username: string;
  /** Radicale's password; Xandikos ignores credentials. */
  readonly password: string;
  /** The user's home collections, as discovery finds them. */
  readonly calendarHome: string;
  readonly addressBookHome: string;
  /** Stops the server (SIGTERM); its storage stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same storage and waits until it answers. */
  start(): Promise<void>;
  /** Stops it for good and deletes its storage. */
  close(): Promise<void>;
}

export interface StartDavServerOptions {
  username?: string;
  password?: string;
  /**
   * Radicale only: a rights file (Radicale's `from_file` format) instead of "each user owns their
   * own collections", e.g. to refuse creating calendars as some providers do.
   */
  rights?: string;
}

export const NO_DAV_SERVER_HELP =
  "The CalDAV/CardDAV tests run real servers: apt-get install -y radicale xandikos apache2-utils";

const liveServers = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of liveServers) child.kill("SIGTERM");
});

/**
 * Runs the server under a small shell watchdog that stops it when this process is gone, so a test
 * worker killed mid-run (a timeout, Ctrl-C) leaves no server behind. SIGTERM to the watchdog stops
 * the server too.
 */
const WATCHDOG = [
  'parent=$1; shift; "$@" & server=$!',
  "trap 'kill -TERM $server 2>/dev/null; wait $server; exit 0' TERM INT",
  'while kill -0 "$parent" 2>/dev/null && kill -0 "$server" 2>/dev/null; do sleep 1 & wait $!; done',
  "kill -TERM $server 2>/dev/null; wait $server",
].join("\n");

function requireBinary(binary: string, args: string[]): void {
  const probe = spawnSync(binary, args, { stdio: "ignore" });
  if (probe.error || probe.status !== 0) throw new Error(`${binary} is not installed. ${NO_DAV_SERVER_HELP}`);
}

export async function startRadicale(options: StartDavServerOptions = {}): Promise<DavServerHandle> {
  requireBinary("radicale", ["--version"]);
  requireBinary("htpasswd", ["-nbB", "probe", "probe"]);
  const username = options.username ?? "referee";
  const password = options.password ?? "domare-lösen-1";
  const dir = mkdtempSync(join(tmpdir(), "fogis-radicale-"));
  const users = join(dir, "users");
  // bcrypt, as Radicale's documentation sets it up.
  const created = spawnSync("htpasswd", ["-cbB", users, username, password], { stdio: "ignore" });
  if (created.status !== 0) throw new Error(`htpasswd could not write ${users}`);
  const port = await freePort();
  const config = join(dir, "config");
  const rights =
    options.rights === undefined ? [] : ["[rights]", "type = from_file", `file = ${join(dir, "rights")}`];
  if (options.rights !== undefined) {
    writeFileSync(join(dir, "rights"), options.rights);
    // With rights of its own the principal is not created on first login: make it, as an admin would.
    mkdirSync(join(dir, "collections", "collection-root", username), { recursive: true });
  }
  writeFileSync(
    config,
    [
      "[server]",
      `hosts = 127.0.0.1:${port}`,
      "[auth]",
      "type = htpasswd",
      `htpasswd_filename = ${users}`,
      "htpasswd_encryption = bcrypt",
      // Radicale slows every failed login down by a second by default; tests try wrong passwords.
      "delay = 0.05",
      ...rights,
      "[storage]",
      `filesystem_folder = ${join(dir, "collections")}`,
      "[logging]",
      "level = warning",
      "",
    ].join("\n"),
  );
  return supervise({
    kind: "radicale",
    command: "radicale",
    args: ["--config", config],
    port,
    dir,
    username,
    password,
    calendarHome: `/${username}/`,
    addressBookHome: `/${username}/`,
  });
}

export async function startXandikos(options: StartDavServerOptions = {}): Promise<DavServerHandle> {
  requireBinary("xandikos", ["--version"]);
  const dir = mkdtempSync(join(tmpdir(), "fogis-xandikos-"));
  const port = await freePort();
  return supervise({
    kind: "xandikos",
    command: "xandikos",
    // --autocreate makes the principal and its homes; the calendar and address book are ours to create.
    args: ["-d", join(dir, "data"), "-l", "127.0.0.1", "-p", String(port), "--autocreate"],
    port,
    dir,
    username: options.username ?? "referee",
    password: options.password ?? "ignored-by-xandikos",
    calendarHome: "/user/calendars/",
    addressBookHome: "/user/contacts/",
  });
}

export function startDavServer(
  kind: DavServerKind,
  options?: StartDavServerOptions,
): Promise<DavServerHandle> {
  return kind === "radicale" ? startRadicale(options) : startXandikos(options);
}

interface Supervised {
  kind: DavServerKind;
  command: string;
  args: string[];
  port: number;
  dir: string;
  username: string;
  password: string;
  calendarHome: string;
  addressBookHome: string;
}

async function supervise(spec: Supervised): Promise<DavServerHandle> {
  let child: ChildProcess | undefined;
  const url = `http://127.0.0.1:${spec.port}/`;

  const launch = async () => {
    const proc = spawn("sh", ["-c", WATCHDOG, "watchdog", String(process.pid), spec.command, ...spec.args], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    proc.stderr?.on("data", (chunk) => {
      stderr = `${stderr}${chunk}`.slice(-2000);
    });
    liveServers.add(proc);
    proc.once("exit", () => liveServers.delete(proc));
    child = proc;
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.exitCode !== null) {
        throw new Error(`${spec.command} exited at start (code ${proc.exitCode}): ${stderr.trim()}`);
      }
      try {
        const response = await fetch(url, { method: "OPTIONS", signal: AbortSignal.timeout(1000) });
        await response.body?.cancel();
        return;
      } catch {
        if (Date.now() > deadline) {
          proc.kill("SIGKILL");
          throw new Error(`${spec.command} did not answer on ${url} within 15 s: ${stderr.trim()}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  };

  const stop = async () => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };

  await launch();
  return {
    kind: spec.kind,
    url,
    port: spec.port,
    username: spec.username,
    password: spec.password,
    calendarHome: spec.calendarHome,
    addressBookHome: spec.addressBookHome,
    stop,
    start: async () => {
      if (child && child.exitCode === null && child.signalCode === null) return;
      await launch();
    },
    close: async () => {
      await stop();
      rmSync(spec.dir, { recursive: true, force: true });
    },
  };
}
