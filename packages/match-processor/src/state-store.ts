import { join } from "node:path";
import {
  decodeEnvelopeValue,
  type Match,
  MatchSchema,
  type MatchUpdatesEnvelope,
} from "@fogis/message-schema";
import { readJsonFile, StateFileWriter } from "@fogis/runtime";
import { z } from "zod";

/**
 * The processor's state in DATA_DIR, written atomically:
 * - `previous_matches.json`: the match list of the last confirmed delivery, a plain JSON array,
 *   the same file the Python processor keeps (an operator can copy it in when migrating);
 * - `processor_state.json`: the last confirmed delivery (sequence, snapshot hash, when, route), the
 *   processor's epoch, and which kind of source the delivered list came from;
 * - `latest_envelope.json`: the newest envelope created, delivered or not, so `GET /matches/latest`
 *   survives a restart and a sequence number is never handed out twice.
 * A corrupt file is reported and read as empty; it is never a reason not to start.
 */

export const STATE_FILES = {
  previousMatches: "previous_matches.json",
  processorState: "processor_state.json",
  latestEnvelope: "latest_envelope.json",
} as const;

export interface ConfirmedDelivery {
  sequence: number;
  snapshotHash: string;
  messageId: string;
  deliveredAt: Date;
  route: "redis" | "http";
}

/** Which kind of source a list came from (`MatchSource.kind`). */
export type SourceKind = "file" | "http" | "demo";

/** Saved with each confirmed delivery: who delivered it, and from where the list came. */
export interface ProcessorIdentity {
  /** DESIGN §5.3: sequences are comparable only within one epoch. */
  processorEpoch: string;
  sourceKind: SourceKind;
}

export interface LoadedState {
  /** The baseline changes are detected against. */
  previousMatches: Match[];
  confirmed: ConfirmedDelivery | null;
  /** Null when the state files do not say (a new DATA_DIR, or one written before epochs). */
  processorEpoch: string | null;
  sourceKind: SourceKind | null;
  latestEnvelope: MatchUpdatesEnvelope | null;
  /** One readable line per file that was corrupt (and read as empty). */
  problems: string[];
}

const ProcessorStateSchema = z.object({
  sequence: z.number().int().nonnegative(),
  snapshot_hash: z.string(),
  message_id: z.string(),
  delivered_at: z.iso.datetime({ offset: true }),
  route: z.enum(["redis", "http"]),
  processor_epoch: z.string().min(1).optional(),
  source_kind: z.enum(["file", "http", "demo"]).optional(),
});

export class StateStore {
  readonly paths: Record<keyof typeof STATE_FILES, string>;

  constructor(
    readonly dataDir: string,
    /** Writes the files; also reports which of them cannot be written (a full disk). */
    readonly writer: StateFileWriter = new StateFileWriter(),
  ) {
    this.paths = {
      previousMatches: join(dataDir, STATE_FILES.previousMatches),
      processorState: join(dataDir, STATE_FILES.processorState),
      latestEnvelope: join(dataDir, STATE_FILES.latestEnvelope),
    };
  }

  async load(): Promise<LoadedState> {
    const problems: string[] = [];
    const [previous, state, latest] = await Promise.all([
      readJsonFile(this.paths.previousMatches),
      readJsonFile(this.paths.processorState),
      readJsonFile(this.paths.latestEnvelope),
    ]);

    const previousMatches: Match[] = [];
    if (previous.state === "corrupt") problems.push(`${this.paths.previousMatches}: ${previous.reason}`);
    if (previous.state === "ok") {
      const list = previous.value;
      if (!Array.isArray(list)) {
        problems.push(`${this.paths.previousMatches}: expected a JSON array of matches`);
      } else {
        let invalid = 0;
        for (const item of list) {
          const parsed = MatchSchema.safeParse(item);
          if (parsed.success) previousMatches.push(parsed.data);
          else invalid++;
        }
        // Skipped entries reappear as new matches in the next snapshot: resent, never lost.
        if (invalid > 0) {
          problems.push(
            `${this.paths.previousMatches}: skipped ${invalid} of ${list.length} invalid matches`,
          );
        }
      }
    }

    let confirmed: ConfirmedDelivery | null = null;
    let processorEpoch: string | null = null;
    let sourceKind: SourceKind | null = null;
    if (state.state === "corrupt") problems.push(`${this.paths.processorState}: ${state.reason}`);
    if (state.state === "ok") {
      const parsed = ProcessorStateSchema.safeParse(state.value);
      if (parsed.success) {
        confirmed = {
          sequence: parsed.data.sequence,
          snapshotHash: parsed.data.snapshot_hash,
          messageId: parsed.data.message_id,
          deliveredAt: new Date(parsed.data.delivered_at),
          route: parsed.data.route,
        };
        processorEpoch = parsed.data.processor_epoch ?? null;
        sourceKind = parsed.data.source_kind ?? null;
      } else {
        problems.push(`${this.paths.processorState}: not a processor state file`);
      }
    }

    let latestEnvelope: MatchUpdatesEnvelope | null = null;
    if (latest.state === "corrupt") problems.push(`${this.paths.latestEnvelope}: ${latest.reason}`);
    if (latest.state === "ok") {
      const decoded = decodeEnvelopeValue(latest.value);
      if (decoded.ok && decoded.envelope.type === "match_updates") latestEnvelope = decoded.envelope;
      else problems.push(`${this.paths.latestEnvelope}: not a match_updates envelope`);
    }

    return { previousMatches, confirmed, processorEpoch, sourceKind, latestEnvelope, problems };
  }

  /** Written when an envelope is created, before it is sent. */
  async saveLatestEnvelope(envelope: MatchUpdatesEnvelope): Promise<void> {
    await this.writer.writeJson(this.paths.latestEnvelope, envelope);
  }

  /** Written only after a confirmed delivery: the new baseline, then the delivery record. */
  async saveConfirmed(
    matches: readonly Match[],
    confirmed: ConfirmedDelivery,
    identity: ProcessorIdentity,
  ): Promise<void> {
    await this.writer.writeJson(this.paths.previousMatches, matches);
    await this.writer.writeJson(this.paths.processorState, {
      sequence: confirmed.sequence,
      snapshot_hash: confirmed.snapshotHash,
      message_id: confirmed.messageId,
      delivered_at: confirmed.deliveredAt.toISOString(),
      route: confirmed.route,
      processor_epoch: identity.processorEpoch,
      source_kind: identity.sourceKind,
    });
  }
}
