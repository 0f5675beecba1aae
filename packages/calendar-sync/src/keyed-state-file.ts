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
