import { readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  createMatchUpdatesEnvelope,
  createSystemAlertEnvelope,
  decodeEnvelope,
  encodeEnvelope,
  encodeSyncBody,
  type Match,
  renderEnvelopeJsonSchema,
} from "../src/index.js";

/**
 * docs/envelope.schema.json must accept exactly what the decoder accepts: other services validate
 * with it. Every sample below goes through both, an independent JSON Schema validator (Ajv) and
 * `decodeEnvelope`, and both must give the expected verdict.
 */

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")) as Record<string, unknown>;
const checkedIn = readFileSync(new URL("../../../docs/envelope.schema.json", import.meta.url), "utf8");

// Strict, but for strictRequired: "tid or speldatum" is an anyOf of `required` lists that name
// properties declared next to it rather than inside each branch, which is valid JSON Schema.
const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
const validate = ajv.compile(JSON.parse(checkedIn));

// biome-ignore lint/suspicious/noExplicitAny: these tests edit envelopes as plain JSON, at any depth
type Json = Record<string, any>;
const match = (): Json => fixture("fogis-match.json");
const python = (): Json => fixture("python-match-updates.json");
const status = (): Json => fixture("python-processing-status.json");
/** The Python envelope with `edit` applied to a fresh copy. */
const pythonWith = (edit: (envelope: Json) => void): Json => {
  const envelope = python();
  edit(envelope);
  return envelope;
};
const withMatch = (edit: (m: Json) => void): Json =>
  pythonWith((e) => {
    const m = match();
    edit(m);
    e.payload.matches = [m];
  });
const ours = (): Json => {
  const m = match() as Match;
  return JSON.parse(
    encodeEnvelope(
      createMatchUpdatesEnvelope({
        matches: [m],
        source: "match-processor",
        sequence: 3,
        snapshotHash: "ab".repeat(32),
        changes: [
          {
            match_id: m.matchid,
            match_nr: m.matchnr ?? null,
            category: "time_change",
            priority: "high",
            field_name: "avsparkstid",
            previous_value: "15:00",
            current_value: "17:00",
          },
        ],
      }),
    ),
  );
};

const accepted: Array<[string, () => unknown]> = [
  ["the Python processor's envelope (integer match_id, eleven changes for one new match, +00:00)", python],
  ["the Python processor's processing_status", status],
  ["our processor's envelope", ours],
  [
    "our HTTP fallback body (the envelope plus a top-level copy of the matches)",
    () => JSON.parse(encodeSyncBody(ours() as never)),
  ],
  [
    "a system_alert",
    () => createSystemAlertEnvelope({ source: "x", alertType: "a", severity: "error", message: "m" }),
  ],
  [
    "schema_version at the top level instead of in the payload",
    () =>
      pythonWith((e) => {
        e.schema_version = e.payload.schema_version;
        delete e.payload.schema_version;
      }),
  ],
  [
    "the legacy bare match list as payload",
    () =>
      pythonWith((e) => {
        e.payload = [match()];
      }),
  ],
  [
    "an empty match list",
    () =>
      pythonWith((e) => {
        e.payload.matches = [];
      }),
  ],
  [
    "a string match_id in detailed_changes (older publishers)",
    () =>
      pythonWith((e) => {
        e.payload.detailed_changes[0].match_id = "6201001";
      }),
  ],
  [
    "a detailed change without match_id (dropped, the snapshot is kept)",
    () =>
      pythonWith((e) => {
        delete e.payload.detailed_changes[3].match_id;
      }),
  ],
  [
    "detailed_changes that is not a list (dropped)",
    () =>
      pythonWith((e) => {
        e.payload.detailed_changes = "none";
      }),
  ],
  [
    "a detailed change that is a number (dropped)",
    () =>
      pythonWith((e) => {
        e.payload.detailed_changes.push(7);
      }),
  ],
  [
    "high_priority as a string (dropped)",
    () =>
      pythonWith((e) => {
        e.payload.high_priority = "yes";
      }),
  ],
  [
    "metadata that is a list (dropped)",
    () =>
      pythonWith((e) => {
        e.payload.metadata = [];
      }),
  ],
  [
    "metadata.sequence as a string (dropped)",
    () =>
      pythonWith((e) => {
        e.payload.metadata.sequence = "7";
      }),
  ],
  [
    "metadata.has_changes null (dropped)",
    () =>
      pythonWith((e) => {
        e.payload.metadata.has_changes = null;
      }),
  ],
  [
    "change_summary with counts as text (dropped)",
    () =>
      pythonWith((e) => {
        e.payload.metadata.change_summary = { new: "4" };
      }),
  ],
  [
    "schema_version as a number (dropped)",
    () =>
      pythonWith((e) => {
        e.payload.schema_version = 2;
      }),
  ],
  [
    "a status envelope whose details are a list (dropped)",
    () => {
      const s = status();
      s.payload.details = [1];
      return s;
    },
  ],
  [
    "unknown fields at every level",
    () =>
      pythonWith((e) => {
        e.extra = 1;
        e.payload.extra = { a: [1] };
        e.payload.metadata.extra = true;
        e.payload.matches[0].nyttFalt = null;
      }),
  ],
  [
    "a match with speldatum and no tid",
    () =>
      withMatch((m) => {
        delete m.tid;
      }),
  ],
  [
    "a match with tid and no speldatum",
    () =>
      withMatch((m) => {
        delete m.speldatum;
      }),
  ],
  [
    "tid as /Date(ms+hhmm)/",
    () =>
      withMatch((m) => {
        m.tid = "/Date(1778079600000+0200)/";
      }),
  ],
  [
    "tid as an ISO time with a zone and microseconds",
    () =>
      withMatch((m) => {
        m.tid = "2026-05-06T15:00:00.123456+00:00";
      }),
  ],
  [
    "tid as a Stockholm ISO time without a zone",
    () =>
      withMatch((m) => {
        m.tid = "2026-05-06 17:00";
      }),
  ],
  [
    "tid as a date alone",
    () =>
      withMatch((m) => {
        m.tid = "2026-05-06";
      }),
  ],
  [
    "speldatum on a leap day",
    () =>
      withMatch((m) => {
        m.speldatum = "2028-02-29";
      }),
  ],
  [
    "avsparkstid without a leading zero",
    () =>
      withMatch((m) => {
        m.avsparkstid = "9:30";
      }),
  ],
  [
    "null where FOGIS leaves a field empty",
    () =>
      withMatch((m) => {
        m.anlaggningnamn = null;
        m.domaruppdraglista = null;
      }),
  ],
];

const rejected: Array<[string, () => unknown]> = [
  ["not an object", () => [python()]],
  [
    "no type",
    () =>
      pythonWith((e) => {
        delete e.type;
      }),
  ],
  [
    "an unknown type",
    () =>
      pythonWith((e) => {
        e.type = "match_update";
      }),
  ],
  [
    "no message_id",
    () =>
      pythonWith((e) => {
        delete e.message_id;
      }),
  ],
  [
    "an empty message_id",
    () =>
      pythonWith((e) => {
        e.message_id = "";
      }),
  ],
  [
    "a message_id too long to log",
    () =>
      pythonWith((e) => {
        e.message_id = "x".repeat(201);
      }),
  ],
  [
    "no timestamp",
    () =>
      pythonWith((e) => {
        delete e.timestamp;
      }),
  ],
  [
    "version 2.0",
    () =>
      pythonWith((e) => {
        e.version = "2.0";
      }),
  ],
  [
    "no payload",
    () =>
      pythonWith((e) => {
        delete e.payload;
      }),
  ],
  [
    "a payload that is text",
    () =>
      pythonWith((e) => {
        e.payload = "matches";
      }),
  ],
  [
    "no matches",
    () =>
      pythonWith((e) => {
        delete e.payload.matches;
      }),
  ],
  [
    "matches that are not a list",
    () =>
      pythonWith((e) => {
        e.payload.matches = { 1: match() };
      }),
  ],
  [
    "a match that is not an object",
    () =>
      pythonWith((e) => {
        e.payload.matches = [42];
      }),
  ],
  [
    "a match without matchid",
    () =>
      withMatch((m) => {
        delete m.matchid;
      }),
  ],
  [
    "a matchid as text",
    () =>
      withMatch((m) => {
        m.matchid = "6201001";
      }),
  ],
  [
    "a matchid of 0",
    () =>
      withMatch((m) => {
        m.matchid = 0;
      }),
  ],
  [
    "a fractional matchid",
    () =>
      withMatch((m) => {
        m.matchid = 1.5;
      }),
  ],
  [
    "a match without tid or speldatum",
    () =>
      withMatch((m) => {
        delete m.tid;
        delete m.speldatum;
      }),
  ],
  [
    "an unreadable tid",
    () =>
      withMatch((m) => {
        m.tid = "tomorrow";
      }),
  ],
  [
    "tid /Date(abc)/",
    () =>
      withMatch((m) => {
        m.tid = "/Date(abc)/";
      }),
  ],
  [
    "tid as bare epoch digits",
    () =>
      withMatch((m) => {
        m.tid = "1778079600000";
      }),
  ],
  [
    "tid with too many epoch digits",
    () =>
      withMatch((m) => {
        m.tid = `/Date(${"9".repeat(16)})/`;
      }),
  ],
  [
    "tid on a day that does not exist",
    () =>
      withMatch((m) => {
        m.tid = "2026-02-30T15:00:00Z";
      }),
  ],
  [
    "tid at 24:00",
    () =>
      withMatch((m) => {
        m.tid = "2026-05-06T24:00:00Z";
      }),
  ],
  [
    "tid as a number",
    () =>
      withMatch((m) => {
        m.tid = 1778079600000;
      }),
  ],
  [
    "speldatum on a day that does not exist",
    () =>
      withMatch((m) => {
        m.speldatum = "2026-02-29";
      }),
  ],
  [
    "speldatum with non-ASCII digits",
    () =>
      withMatch((m) => {
        m.speldatum = "٢٠٢٦-05-06";
      }),
  ],
  [
    "speldatum in another format",
    () =>
      withMatch((m) => {
        m.speldatum = "06/05/2026";
      }),
  ],
  [
    "avsparkstid 25:00",
    () =>
      withMatch((m) => {
        m.avsparkstid = "25:00";
      }),
  ],
  [
    "avsparkstid with seconds",
    () =>
      withMatch((m) => {
        m.avsparkstid = "17:00:00";
      }),
  ],
  [
    "a team name that is a number",
    () =>
      withMatch((m) => {
        m.lag1namn = 42;
      }),
  ],
  [
    "no away team",
    () =>
      withMatch((m) => {
        delete m.lag2namn;
      }),
  ],
  [
    "a referee without domareid (the Python 'domarid' typo)",
    () =>
      withMatch((m) => {
        m.domaruppdraglista[0].domarid = m.domaruppdraglista[0].domareid;
        delete m.domaruppdraglista[0].domareid;
      }),
  ],
  [
    "referees that are not a list",
    () =>
      withMatch((m) => {
        m.domaruppdraglista = { a: 1 };
      }),
  ],
  [
    "installd as text",
    () =>
      withMatch((m) => {
        m.installd = "true";
      }),
  ],
  [
    "a team contact with reserv as text",
    () =>
      withMatch((m) => {
        m.kontaktpersoner[0].reserv = "ja";
      }),
  ],
  [
    "a status without status",
    () => {
      const s = status();
      delete s.payload.status;
      return s;
    },
  ],
  [
    "a legacy bare list with a bad match",
    () =>
      pythonWith((e) => {
        e.payload = [{ matchid: 1 }];
      }),
  ],
];

function verdicts(value: unknown) {
  const decoded = decodeEnvelope(JSON.stringify(value));
  return {
    decoder: decoded.ok ? "accepted" : `rejected (${decoded.reason})`,
    jsonSchema: validate(value) ? "accepted" : `rejected (${ajv.errorsText(validate.errors)})`,
  };
}

describe("docs/envelope.schema.json", () => {
  it("matches the zod schemas (regenerate: pnpm --filter @fogis/message-schema generate:json-schema)", () => {
    expect(checkedIn).toBe(renderEnvelopeJsonSchema());
  });

  it.each(accepted)("accepts, like the decoder: %s", (_name, sample) => {
    const { decoder, jsonSchema } = verdicts(sample());
    expect({ decoder, jsonSchema }).toEqual({ decoder: "accepted", jsonSchema: "accepted" });
  });

  it.each(rejected)("rejects, like the decoder: %s", (_name, sample) => {
    const { decoder, jsonSchema } = verdicts(sample());
    expect(decoder).toMatch(/^rejected/);
    expect(jsonSchema).toMatch(/^rejected/);
  });

  it("agrees with the decoder on matches with any field replaced by any JSON value (property)", () => {
    const keys = Object.keys(match());
    fc.assert(
      fc.property(
        fc.constantFrom(...keys, "domaruppdraglista.0", "kontaktpersoner.0"),
        fc.oneof(
          fc.jsonValue(),
          fc.constantFrom("/Date(0)/", "2026-05-06", "12:00", "2026-05-06T12:00Z", "", null),
          fc.stringMatching(/^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2})?)?$/),
        ),
        (path, value) => {
          const envelope = withMatch((m) => {
            const [key, index] = path.split(".");
            if (index === undefined) m[key as string] = value;
            else if (Array.isArray(m[key as string])) m[key as string][Number(index)] = value;
          });
          const decoded = decodeEnvelope(JSON.stringify(envelope)).ok;
          expect(validate(JSON.parse(JSON.stringify(envelope)))).toBe(decoded);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("agrees with the decoder on envelopes with any informational part replaced (property)", () => {
    const slots: Array<(e: Json, v: unknown) => void> = [
      (e, v) => {
        e.payload.detailed_changes = v;
      },
      (e, v) => {
        e.payload.detailed_changes[0] = v;
      },
      (e, v) => {
        e.payload.detailed_changes[1].match_id = v;
      },
      (e, v) => {
        e.payload.high_priority = v;
      },
      (e, v) => {
        e.payload.metadata = v;
      },
      (e, v) => {
        e.payload.metadata.sequence = v;
      },
      (e, v) => {
        e.payload.metadata.change_summary = v;
      },
      (e, v) => {
        e.payload.schema_version = v;
      },
      (e, v) => {
        e.schema_version = v;
      },
    ];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: slots.length - 1 }), fc.jsonValue(), (slot, value) => {
        const envelope = pythonWith((e) => slots[slot]?.(e, value));
        const decoded = decodeEnvelope(JSON.stringify(envelope));
        expect(decoded.ok).toBe(true);
        expect(validate(JSON.parse(JSON.stringify(envelope)))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
