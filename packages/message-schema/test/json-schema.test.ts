import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { renderEnvelopeJsonSchema } from "../src/index.js";

describe("docs/envelope.schema.json", () => {
  it("matches the zod schemas (regenerate: pnpm --filter @fogis/message-schema generate:json-schema)", () => {
    const checkedIn = readFileSync(new URL("../../../docs/envelope.schema.json", import.meta.url), "utf8");
    expect(checkedIn).toBe(renderEnvelopeJsonSchema());
  });

  it("describes the three message types and requires matches", () => {
    const schema = JSON.parse(renderEnvelopeJsonSchema());
    const types = schema.oneOf.map(
      (s: { properties: { type: { const: string } } }) => s.properties.type.const,
    );
    expect(types).toEqual(["match_updates", "processing_status", "system_alert"]);
    expect(schema.oneOf[0].properties.payload.required).toContain("matches");
  });
});
