import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { renderEnvelopeJsonSchema } from "../src/json-schema.js";

/** Writes docs/envelope.schema.json; `pnpm --filter @fogis/message-schema generate:json-schema`. */
const target = fileURLToPath(new URL("../../../docs/envelope.schema.json", import.meta.url));
writeFileSync(target, renderEnvelopeJsonSchema());
console.log(`wrote ${target}`);
