import { type Logger, readStateFile } from "@fogis/runtime";

/** One state file read into a map: how it went, and for a damaged file, why (with its path). */
export interface KeyedStateRead<K, T> {
  items: Map<K, T>;
  state: "ok" | "missing" | "restored" | "corrupt";
  reason: string;
}

export interface KeyedStateFileOptions<K, T> {
  /** The file's content as its items, or why it is not a state file of this kind. */
  parse: (value: unknown) => { ok: true; value: T[] } | { ok: false; reason: string };
  key: (item: T) => K;
  logger: Logger;
  /** Whose file it is, in the log lines: "calendar" or "phonebook". */
  owner: string;
  /** More fields for the `state_restored` log line. */
  restoredFields?: (items: T[]) => Record<string, unknown>;
}

/**
 * Reads one of the calendar's or the phonebook's state files (current or history) into a map by
 * key. A corrupt file falls back to its previous generation, else reads as empty; either is logged.
 */
export async function readKeyedStateFile<K, T>(
  path: string,
  options: KeyedStateFileOptions<K, T>,
): Promise<KeyedStateRead<K, T>> {
  const read = await readStateFile(path, options.parse);
  const byKey = (items: T[]) => new Map(items.map((item) => [options.key(item), item]));
  if (read.state === "missing") return { items: new Map(), state: "missing", reason: "" };
  if (read.state === "ok") return { items: byKey(read.value), state: "ok", reason: "" };
  if (read.state === "restored") {
    options.logger.error(
      { event: "state_restored", file: path, reason: read.reason, ...options.restoredFields?.(read.value) },
      `${options.owner} state file is corrupt; serving the previous generation until the next snapshot`,
    );
    return { items: byKey(read.value), state: "restored", reason: `${path}: ${read.reason}` };
  }
  options.logger.error(
    { event: "state_corrupt", file: path, reason: read.reason },
    `${options.owner} state file is corrupt and no previous generation is usable; starting without it, the next resync rebuilds the ${options.owner}`,
  );
  return { items: new Map(), state: "corrupt", reason: `${path}: ${read.reason}` };
}

/** The current and the history file of the calendar or the phonebook, read together. */
export interface KeyedStatePairRead<K, T> {
  current: Map<K, T>;
  /** The history file's items but those in `current` (a file from before the history file holds both). */
  history: Map<K, T>;
  /** `missing` when both are; `corrupt` when either is; `restored` when either fell back to its previous generation. */
  state: "ok" | "missing" | "restored" | "corrupt";
  /** Why, for each damaged file. */
  reason: string;
  /** Which files were read from their previous generation. */
  restored: Array<"current" | "history">;
}

/** Reads both state files of one owner with `read` (a `readKeyedStateFile` with its options). */
export async function readKeyedStatePair<K, T>(
  paths: { current: string; history: string },
  read: (path: string) => Promise<KeyedStateRead<K, T>>,
): Promise<KeyedStatePairRead<K, T>> {
  const files = { current: await read(paths.current), history: await read(paths.history) };
  for (const key of files.current.items.keys()) files.history.items.delete(key);
  const pair = { current: files.current.items, history: files.history.items };
  const bad = Object.values(files).filter((file) => file.state === "restored" || file.state === "corrupt");
  if (bad.length === 0) {
    const missing = files.current.state === "missing" && files.history.state === "missing";
    return { ...pair, state: missing ? "missing" : "ok", reason: "", restored: [] };
  }
  return {
    ...pair,
    state: bad.some((file) => file.state === "corrupt") ? "corrupt" : "restored",
    reason: bad.map((file) => file.reason).join("; "),
    restored: (["current", "history"] as const).filter((name) => files[name].state === "restored"),
  };
}
