import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * State files survive crashes: a write goes to a temp file in the same directory, is fsynced, and
 * replaces the old file with one rename, so a reader sees the old or the new content, never half.
 * `content` may come in pieces (an iterable of strings), written one after the other.
 */
export async function writeFileAtomic(
  path: string,
  content: string | Uint8Array | Iterable<string>,
): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  const handle = await open(temp, "w", 0o600);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  // Persist the rename itself.
  const dirHandle = await open(dir, "r").catch(() => undefined);
  await dirHandle?.sync().catch(() => {});
  await dirHandle?.close();
}

/**
 * Writes `value` as JSON (and a newline) in pieces of about 64 kB: a 1,000-match list is 3.3 MB
 * of JSON, and as one string it is also flattened and copied into a buffer on the way to the
 * disk, three large copies that outlive the cycle in V8's large-object space until a full GC.
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, jsonPieces(value));
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
