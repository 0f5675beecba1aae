import {
  createMatchUpdatesEnvelope,
  formatTid,
  type Match,
  type MatchUpdatesEnvelope,
  matchKickoff,
  snapshotHash,
  toStockholmLocal,
} from "@fogis/message-schema";
import { fogisMatchList } from "@fogis/testing";

/**
 * Bench data: @fogis/testing's real-shaped FOGIS matches (3 referees with contact details and
 * 2 team contacts each), kicking off from tomorrow on, so no match counts as played.
 */

export function upcomingMatches(count: number, firstMatchId = 6_100_000): Match[] {
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  return fogisMatchList(count, firstMatchId, tomorrow);
}

/** `matches` with match `index` moved to another venue: the common "one match changed" snapshot. */
export function withVenueChanged(matches: readonly Match[], index: number, label: string): Match[] {
  return matches.map((match, i) =>
    i === index ? { ...match, anlaggningid: 99_000 + i, anlaggningnamn: `Ny arena ${label}` } : match,
  );
}

/** `matches` with match `index`'s kick-off moved by `minutes`: the change a referee must see at once. */
export function withKickoffMoved(matches: readonly Match[], index: number, minutes: number): Match[] {
  return matches.map((match, i) => {
    if (i !== index) return match;
    const kickoff = matchKickoff(match);
    if (!kickoff) throw new Error(`match ${match.matchid} has no kick-off`);
    const moved = new Date(kickoff.getTime() + minutes * 60_000);
    const local = toStockholmLocal(moved);
    return { ...match, tid: formatTid(moved), speldatum: local.date, avsparkstid: local.time };
  });
}

/** An envelope as the processor builds it for a cycle: sequence number and snapshot hash included. */
export function processorEnvelope(matches: Match[], sequence: number): MatchUpdatesEnvelope {
  return createMatchUpdatesEnvelope({
    source: "match-processor",
    matches,
    sequence,
    snapshotHash: snapshotHash(matches),
  });
}

/**
 * The next FOGIS list after `previous`, fetched fresh (a deep copy, as parsing a new response gives):
 * `changed` matches altered (venue, kick-off or a referee, in turn), `added` new ones, `removed`
 * upcoming ones gone.
 */
export function nextMatchList(
  previous: readonly Match[],
  changed: number,
  added: number,
  removed: number,
): Match[] {
  const next = JSON.parse(JSON.stringify(previous.slice(0, previous.length - removed))) as Match[];
  const step = Math.max(1, Math.floor(next.length / Math.max(1, changed)));
  for (let n = 0; n < changed; n++) {
    const match = next[(n * step) % next.length] as Match;
    if (n % 3 === 0) match.anlaggningnamn = `${match.anlaggningnamn} (flyttad)`;
    else if (n % 3 === 1) match.avsparkstid = "20:15";
    else
      match.domaruppdraglista = (match.domaruppdraglista ?? []).map((r, i) =>
        i === 0 ? { ...r, domareid: r.domareid + 7 } : r,
      );
  }
  const lastId = Math.max(...previous.map((m) => m.matchid));
  return [...next, ...upcomingMatches(added, lastId + 1)];
}
