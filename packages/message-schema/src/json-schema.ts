import { z } from "zod";
import { EnvelopeSchema } from "./envelope.js";

/**
 * The JSON Schema of the envelope as it may arrive on the wire (the "input" side), for the Python
 * services and anyone else who validates without TypeScript. Checked in at docs/envelope.schema.json.
 */
export function envelopeJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(EnvelopeSchema, { io: "input", unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
  return {
    $schema: schema.$schema,
    $id: "https://fogis-realtime.local/schemas/envelope-v1.json",
    title: "FOGIS Realtime envelope v1",
    description:
      "A message on the fogis:* Redis channels or a POST /manual-sync body. Unknown fields are allowed at every level.",
    ...schema,
  };
}

/** The file content written to docs/ (stable formatting so the staleness test is exact). */
export function renderEnvelopeJsonSchema(): string {
  return `${JSON.stringify(envelopeJsonSchema(), null, 2)}\n`;
}
