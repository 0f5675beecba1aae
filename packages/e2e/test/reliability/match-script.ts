import { writeFileSync } from "node:fs";
import { rename } from "node:fs/promises";
import type { Match } from "@fogis/message-schema";
import { fogisMatch, type MatchInput, type RefereeInput } from "@fogis/testing";

/**
 * A referee's match list that changes the way FOGIS lists do: new assignments, removed ones,
 * moved kick-offs and dates, new venues, swapped referees, cancellations. Seeded, so every run
 * makes the same changes. Each change is recorded, so a test can tell how many of the changes made
 * during a fault reached the calendar.
 */

export type ChangeKind =
  | "new_assignment"
  | "removed"
  | "time_change"
  | "date_change"
  | "venue_change"
  | "referee_change"
  | "cancellation"
  | "team_change";

export interface MatchChange {
  step: number;
  matchid: number;
  kind: ChangeKind;
}

const KINDS: ChangeKind[] = [
  "new_assignment",
  "removed",
  "time_change",
  "date_change",
  "venue_change",
  "referee_change",
  "cancellation",
  "team_change",
];
const TIMES = ["11:00", "12:30", "13:00", "14:00", "15:00", "16:30", "18:00", "19:00"];

/** mulberry32: a small seeded PRNG, so a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function isoDate(daysFromNow: number): string {
  return new Date(Date.now() + daysFromNow * 86_400_000).toISOString().slice(0, 10);
}

export class MatchScript {
  readonly changes: MatchChange[] = [];
  /** Played matches that left the list: the calendar keeps their events as history. */
  readonly history = new Set<number>();
  /** Played matches still in the list; random changes leave them alone. */
  private readonly played = new Set<number>();
  private readonly random: () => number;
  private readonly inputs = new Map<number, MatchInput>();
  private nextMatchId: number;
  private nextRefereeId = 40_000;
  private step = 0;
  /** The list stays within initial ± 6 matches (at least 4). */
  private readonly minSize: number;
  private readonly maxSize: number;

  /** `initial` matches from `firstMatchId`, all kicking off 20–200 days from now (never "played"). */
  constructor({ seed = 7, initial = 8, firstMatchId = 6_200_000 } = {}) {
    this.random = prng(seed);
    this.nextMatchId = firstMatchId;
    this.minSize = Math.max(4, initial - 6);
    this.maxSize = initial + 6;
    for (let i = 0; i < initial; i++) this.addMatch();
  }

  get matches(): Match[] {
    return [...this.inputs.values()].map((input) => fogisMatch(input));
  }

  get matchIds(): number[] {
    return [...this.inputs.keys()];
  }

  /** Changes made after step `from` and up to step `to` (default: now), e.g. during a fault. */
  changesBetween(from: number, to = this.step): MatchChange[] {
    return this.changes.filter((change) => change.step > from && change.step <= to);
  }

  get currentStep(): number {
    return this.step;
  }

  /** Makes one change (of a random kind, or `kind`) and answers it. */
  change(kind?: ChangeKind): MatchChange {
    this.step += 1;
    let chosen = kind ?? this.pick(KINDS);
    if (chosen === "removed" && this.inputs.size <= this.minSize) chosen = "new_assignment";
    if (chosen === "new_assignment" && this.inputs.size >= this.maxSize) chosen = "removed";
    let matchid: number;
    if (chosen === "new_assignment") {
      matchid = this.addMatch();
    } else {
      matchid = this.pick(this.matchIds.filter((id) => !this.played.has(id)));
      const input = this.inputs.get(matchid) as MatchInput;
      switch (chosen) {
        case "removed":
          this.inputs.delete(matchid);
          break;
        case "time_change":
          input.time = this.pick(TIMES.filter((t) => t !== input.time));
          break;
        case "date_change": {
          const before = input.date;
          while (input.date === before) input.date = isoDate(20 + Math.floor(this.random() * 180));
          break;
        }
        case "venue_change":
          input.venueId = 23_000 + this.step;
          input.venue = `Idrottsplats ${this.step}`;
          break;
        case "referee_change": {
          const referees = [...(input.referees ?? [])];
          const slot = Math.floor(this.random() * referees.length);
          const old = referees[slot] as RefereeInput;
          const id = this.nextRefereeId++;
          referees[slot] = { domareid: id, role: old.role ?? "Dom", name: `Ersättare ${id} Ström` };
          input.referees = referees;
          break;
        }
        case "cancellation":
          input.cancelled = !input.cancelled;
          break;
        case "team_change":
          input.home = `Hemmalag ${this.step} IF`;
          break;
      }
    }
    const change = { step: this.step, matchid, kind: chosen };
    this.changes.push(change);
    return change;
  }

  /** Adds a match that kicked off `daysAgo` days ago (played); answers its matchid. */
  addPlayedMatch(daysAgo = 3): number {
    const matchid = this.nextMatchId++;
    this.inputs.set(matchid, {
      matchid,
      date: isoDate(-daysAgo),
      time: "13:00",
      referees: [{ domareid: 30_000 + (matchid % 50), role: "Dom", name: `Domare ${matchid % 50} Lund` }],
    });
    this.played.add(matchid);
    return matchid;
  }

  /** A played match leaves FOGIS's list (it only reaches 7 days back): from now on it is history. */
  dropPlayed(matchid: number): void {
    if (!this.played.delete(matchid) || !this.inputs.delete(matchid)) {
      throw new Error(`match ${matchid} is not a played match in the list`);
    }
    this.history.add(matchid);
  }

  /** Writes the list where MATCH_SOURCE_FILE points, atomically (the processor may read it any time). */
  async write(path: string): Promise<void> {
    const temp = `${path}.tmp`;
    writeFileSync(temp, JSON.stringify(this.matches));
    await rename(temp, path);
  }

  private addMatch(): number {
    const matchid = this.nextMatchId++;
    const referee = (offset: number, role: RefereeInput["role"]): RefereeInput => ({
      domareid: 30_000 + ((matchid + offset) % 50),
      role,
      name: `Domare ${(matchid + offset) % 50} Lund`,
    });
    this.inputs.set(matchid, {
      matchid,
      date: isoDate(20 + Math.floor(this.random() * 180)),
      time: this.pick(TIMES),
      referees: [referee(0, "Dom"), referee(17, "AD1"), referee(31, "AD2")],
    });
    return matchid;
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)] as T;
  }
}
