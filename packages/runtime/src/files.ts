import { randomBytes } from "node:crypto";
import { copyFile, link, mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "pino";
import type { StatusIssue } from "./health.js";

export interface AtomicWriteOptions {
  /**
   * Keep the content being replaced as `previousGenerationPath(path)`, so a file found corrupt
   * later (a bad disk, a careless edit) can fall back to the generation before it.
   */
  keepPrevious?: boolean;
}

/** Where `writeFileAtomic(path, …, { keepPrevious: true })` keeps the generation before the current one. */
export function previousGenerationPath(path: string): string {
  return `${path}.previous`;
}

/**
 * State files survive crashes: a write goes to a temp file in the same directory, is fsynced, and
 * replaces the old file with one rename, so a reader sees the old or the new content, never half.
 * A write that fails (a full disk) removes its temp file: a retry must not eat the space that is
 * freed later. `content` may come in pieces (an iterable of strings), written one after the other.
 */
export async function writeFileAtomic(
  path: string,
  content: string | Uint8Array | Iterable<string>,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    const handle = await open(temp, "w", 0o600);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.keepPrevious) await keepGeneration(path);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => {});
    throw error;
  }
  // Persist the rename itself.
  const dirHandle = await open(dir, "r").catch(() => undefined);
  await dirHandle?.sync().catch(() => {});
  await dirHandle?.close();
}

/** The current file becomes the previous generation: a second name for it (no copy), or a copy where links are not supported. */
async function keepGeneration(path: string): Promise<void> {
  const previous = previousGenerationPath(path);
  await rm(previous, { force: true });
  try {
    await link(path, previous);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return; // the first generation: nothing to keep
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EXDEV") throw error;
    await copyFile(path, previous);
  }
}

/**
 * Writes `value` as JSON (and a newline) in pieces of about 64 kB: a 1,000-match list is 3.3 MB
 * of JSON, and as one string it is also flattened and copied into a buffer on the way to the
 * disk, three large copies that outlive the cycle in V8's large-object space until a full GC.
 */
export async function writeJsonAtomic(
  path: string,
  value: unknown,
  options: AtomicWriteOptions = {},
): Promise<void> {
  await writeFileAtomic(path, jsonPieces(value), options);
}

const PIECE_CHARS = 64 * 1024;
/** Arrays and plain objects this close to the root are written member by member. */
const SPLIT_DEPTH = 3;

/**
 * The text of `JSON.stringify(value)` followed by a newline, as pieces of about 64k characters.
 * Arrays and plain objects in the top levels are taken apart (a state file's list, an envelope's
 * matches); everything below, and anything with a `toJSON`, goes through `JSON.stringify` whole.
 */
export function* jsonPieces(value: unknown): Generator<string> {
  let piece = "";
  for (const part of jsonParts(value, 0)) {
    piece += part;
    if (piece.length >= PIECE_CHARS) {
      yield piece;
      piece = "";
    }
  }
  yield `${piece}\n`;
}

function* jsonParts(value: unknown, depth: number): Generator<string> {
  if (!splittable(value, depth)) {
    // As in JSON.stringify: what has no JSON form (undefined, a function) is null in an array.
    yield leaf(value) ?? "null";
  } else if (Array.isArray(value)) {
    yield "[";
    for (let i = 0; i < value.length; i++) {
      if (i > 0) yield ",";
      yield* jsonParts(value[i], depth + 1);
    }
    yield "]";
  } else {
    yield "{";
    let first = true;
    for (const [key, member] of Object.entries(value as object)) {
      const split = splittable(member, depth + 1);
      const text = split ? undefined : leaf(member);
      // As in JSON.stringify: a member without a JSON form is left out of an object.
      if (!split && text === undefined) continue;
      yield `${first ? "" : ","}${JSON.stringify(key)}:`;
      first = false;
      if (split) yield* jsonParts(member, depth + 1);
      else yield text as string;
    }
    yield "}";
  }
}

/** An array or a plain object near enough to the root to be taken apart. */
function splittable(value: unknown, depth: number): boolean {
  if (depth >= SPLIT_DEPTH || value === null || typeof value !== "object" || hasToJson(value)) return false;
  if (Array.isArray(value)) return true;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function hasToJson(value: object): boolean {
  return typeof (value as { toJSON?: unknown }).toJSON === "function";
}

/** JSON.stringify's answer: undefined for what has no JSON form (undefined, a function, a symbol). */
function leaf(value: unknown): string | undefined {
  return JSON.stringify(value) as string | undefined;
}

export type JsonFileRead =
  | { state: "ok"; value: unknown }
  | { state: "missing" }
  | { state: "corrupt"; reason: string };

/** Reads a JSON state file; a missing file and a corrupt one are told apart, never thrown. */
export async function readJsonFile(path: string): Promise<JsonFileRead> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { state: "missing" };
    return { state: "corrupt", reason: `cannot read: ${(error as Error).message}` };
  }
  try {
    return { state: "ok", value: JSON.parse(text) };
  } catch (error) {
    return { state: "corrupt", reason: `not valid JSON: ${(error as Error).message.slice(0, 120)}` };
  }
}

export type StateFileRead<T> =
  | { state: "ok"; value: T }
  | { state: "missing" }
  /** The current file is corrupt; `value` is the previous generation. */
  | { state: "restored"; value: T; reason: string }
  /** The current file is corrupt and no previous generation is usable. */
  | { state: "corrupt"; reason: string };

/**
 * Reads a state file written with `keepPrevious`, checked by `parse` (which answers the typed
 * value, or why the content is not one). A current file that cannot be used falls back to the
 * previous generation, so a corrupt file costs one generation, not everything.
 */
export async function readStateFile<T>(
  path: string,
  parse: (value: unknown) => { ok: true; value: T } | { ok: false; reason: string },
): Promise<StateFileRead<T>> {
  const current = await readJsonFile(path);
  if (current.state === "missing") return current;
  const checked =
    current.state === "ok" ? parse(current.value) : { ok: false as const, reason: current.reason };
  if (checked.ok) return { state: "ok", value: checked.value };
  const previous = await readJsonFile(previousGenerationPath(path));
  const older = previous.state === "ok" ? parse(previous.value) : undefined;
  if (older?.ok) return { state: "restored", value: older.value, reason: checked.reason };
  return { state: "corrupt", reason: checked.reason };
}

export interface StateWriteFailure {
  file: string;
  error: string;
  /** ISO-8601: the first failure of this file since its last successful write. */
  since: string;
  failures: number;
}

/**
 * The one way a service writes its state files (atomically, `writeJsonAtomic`), remembering which
 * of them cannot be written right now, so `/health` and `/redis-status` say `fail` with the reason
 * while it lasts (a full disk) and return to normal by themselves after the next successful write.
 */
export class StateFileWriter {
  private readonly failing = new Map<string, StateWriteFailure>();

  constructor(private readonly logger?: Logger) {}

  async writeJson(path: string, value: unknown, options: AtomicWriteOptions = {}): Promise<void> {
    try {
      await writeJsonAtomic(path, value, options);
    } catch (error) {
      const message = (error as Error).message;
      const known = this.failing.get(path);
      this.failing.set(path, {
        file: path,
        error: message,
        since: known?.since ?? new Date().toISOString(),
        failures: (known?.failures ?? 0) + 1,
      });
      throw error;
    }
    const recovered = this.failing.get(path);
    if (recovered) {
      this.failing.delete(path);
      this.logger?.info(
        { event: "state_write_recovered", file: path, failures: recovered.failures, since: recovered.since },
        "state file written again",
      );
    }
  }

  /** Files whose last write failed. */
  get failures(): StateWriteFailure[] {
    return [...this.failing.values()];
  }

  /** A `fail` issue while any state file cannot be written, else undefined. */
  get issue(): StatusIssue | undefined {
    const failures = this.failures;
    const first = failures[0];
    if (!first) return undefined;
    const others = failures.length > 1 ? ` (and ${failures.length - 1} more file(s))` : "";
    return {
      status: "fail",
      code: "state_write_failed",
      message: `cannot write ${first.file}${others}: ${first.error}; ${first.failures} failed write(s) since ${first.since}. Free disk space (or fix the permissions); the service retries by itself`,
      since: first.since,
    };
  }
}
