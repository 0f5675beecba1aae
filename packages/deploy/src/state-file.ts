import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { readJsonFile, writeFileAtomic } from "@fogis/runtime";
import type { PhaseNumber, ServiceName } from "./phases.js";

/**
 * Where the current phase is recorded for the next run and for `status`:
 * `.fogis-deploy/<project>.json` next to the (first) compose file. The containers themselves are
 * the truth for phases 0-3 (their REDIS_PUBSUB_ENABLED and whether redis runs); the file is what
 * tells phase 4 (validated) from phase 3, and only while the containers it names are still the ones
 * running: a recreated container must be validated again.
 */

export interface RecordedPhase {
  project: string;
  phase: PhaseNumber;
  phase_name: string;
  updated_at: string;
  /** Container ids per service at the time, to notice a stack changed behind the tool's back. */
  containers: Partial<Record<ServiceName, string>>;
  last_run: { command: string; result: string; at: string };
}

export interface PhaseStore {
  /** Where it is kept, for messages. */
  readonly location: string;
  read(): Promise<RecordedPhase | null>;
  write(state: RecordedPhase): Promise<void>;
}

export function stateFilePath(composeDir: string, project: string): string {
  return join(composeDir, ".fogis-deploy", `${project}.json`);
}

export class FilePhaseStore implements PhaseStore {
  constructor(readonly location: string) {}

  async read(): Promise<RecordedPhase | null> {
    const read = await readJsonFile(this.location);
    // Missing or unreadable: the containers still say phases 0-3; only "validated" is lost.
    return read.state === "ok" ? (read.value as RecordedPhase) : null;
  }

  async write(state: RecordedPhase): Promise<void> {
    const dir = dirname(this.location);
    await mkdir(dir, { recursive: true });
    // The folder sits next to the compose file, often in a git checkout: keep it out of commits.
    await writeFile(join(dir, ".gitignore"), "*\n", { flag: "wx" }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error;
    });
    await writeFileAtomic(this.location, `${JSON.stringify(state, null, 2)}\n`);
  }
}
