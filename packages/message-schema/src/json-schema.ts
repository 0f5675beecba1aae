import { z } from "zod";
import {
  MatchUpdatesEnvelopeSchema,
  ProcessingStatusEnvelopeSchema,
  SystemAlertEnvelopeSchema,
} from "./envelope.js";
import { informational } from "./informational.js";
import { KICKOFF_FIELDS, MatchSchema, RefereeSchema, TeamContactSchema } from "./match.js";

/**
 * The JSON Schema of what `decodeEnvelope` accepts, for the Python services and anyone else who
 * validates without TypeScript. Checked in at docs/envelope.schema.json; a test runs one table of
 * envelopes through both and expects the same verdicts. What zod cannot write by itself is added
 * here: the legacy bare match list as payload, "tid or speldatum", and the informational parts
 * (any value is accepted there, since the decoder drops a malformed one instead of rejecting).
 */

const INFORMATIONAL_NOTE =
  "Informational: a value of another shape is dropped (and counted) by the decoder, never a reason to reject the envelope.";

const bareMatchList = z.array(MatchSchema);

/** The envelope as it may arrive: also with the bare match list as payload (legacy publishers). */
const WireEnvelopeSchema = z.discriminatedUnion("type", [
  MatchUpdatesEnvelopeSchema.extend({
    payload: z.union([MatchUpdatesEnvelopeSchema.shape.payload, bareMatchList]),
  }),
  ProcessingStatusEnvelopeSchema,
  SystemAlertEnvelopeSchema,
]);

/** Names in `$defs` and descriptions for the JSON Schema. */
const documentation = z.registry<{ id?: string; description?: string }>();
documentation.add(MatchSchema, { id: "Match", description: "A FOGIS match; unknown fields pass through." });
documentation.add(RefereeSchema, { id: "Referee" });
documentation.add(TeamContactSchema, { id: "TeamContact" });
documentation.add(bareMatchList, { description: "Legacy publishers: the bare match list as the payload." });

export function envelopeJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(WireEnvelopeSchema, {
    io: "input",
    unrepresentable: "any",
    metadata: documentation,
    override: ({ zodSchema, jsonSchema }) => {
      const json = jsonSchema as Record<string, unknown>;
      if (zodSchema === MatchSchema) {
        json.anyOf = KICKOFF_FIELDS.map((field) => ({ required: [field] }));
      }
      const meta = informational.get(zodSchema);
      if (meta) {
        const expected = { ...json };
        for (const key of Object.keys(json)) delete json[key];
        json.description = `${meta.description}. ${INFORMATIONAL_NOTE}`;
        json.anyOf = [expected, {}];
      }
    },
  }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    $id: "https://fogis-realtime.local/schemas/envelope-v1.json",
    title: "FOGIS Realtime envelope v1",
    description:
      "A message on the fogis:* Redis channels, and the body of POST /manual-sync (which may also carry a top-level copy of payload.matches for the Python calendar service). Unknown fields are allowed at every level.",
    ...schema,
  };
}

/** The file content written to docs/ (stable formatting so the staleness test is exact). */
export function renderEnvelopeJsonSchema(): string {
  return `${JSON.stringify(envelopeJsonSchema(), null, 2)}\n`;
}
