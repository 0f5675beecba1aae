import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * State files survive crashes: a write goes to a temp file in the same directory, is fsynced, and
 * replaces the old file with one rename, so a reader sees the old or the new content, never half.
 */
export async function writeFileAtomic(path: string, content: string | Uint8Array): Promise<void> {
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

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value)}\n`);
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
