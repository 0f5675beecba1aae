import { createMatchUpdatesEnvelope, type Match } from "@fogis/message-schema";
import fc from "fast-check";

/**
 * Hostile message bodies for the decoder, `POST /manual-sync` and the Redis channels, as
 * fast-check arbitraries: random bytes, truncated JSON, wrong types, deep nesting, `__proto__` /
 * `constructor` keys, huge strings, bodies over the size limit. Each answers raw text or bytes and
 * a label saying what kind of hostility it is.
 */

export interface HostileBody {
  kind: string;
  body: string | Uint8Array;
}

export function envelopeText(matches: Match[], sequence?: number): string {
  return JSON.stringify(
    createMatchUpdatesEnvelope({
      source: "reliability-test",
      matches,
      ...(sequence === undefined ? {} : { sequence }),
    }),
  );
}

/** Paths into a match-updates envelope whose value a "wrong types" body replaces. */
const PATHS = [
  [],
  ["type"],
  ["message_id"],
  ["timestamp"],
  ["version"],
  ["payload"],
  ["payload", "matches"],
  ["payload", "matches", 0],
  ["payload", "matches", 0, "matchid"],
  ["payload", "matches", 0, "tid"],
  ["payload", "matches", 0, "lag1namn"],
  ["payload", "matches", 0, "installd"],
  ["payload", "matches", 0, "domaruppdraglista"],
  ["payload", "matches", 0, "domaruppdraglista", 0],
  ["payload", "matches", 0, "domaruppdraglista", 0, "domareid"],
  ["payload", "metadata"],
  ["payload", "metadata", "sequence"],
] as const;

function setPath(root: unknown, path: readonly (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path.at(-1) as string | number] = value;
  return copy;
}

const MARK = "__reliability_mark__";

/** Adds `member` (raw JSON text, e.g. `"__proto__":{...}`) to the object at `path`, at the text level so `__proto__` stays an own key. */
function withMember(envelope: unknown, path: readonly (string | number)[], member: string): string {
  let target = structuredClone(envelope) as Record<string | number, unknown>;
  const root = target;
  for (const key of path) target = target[key] as Record<string | number, unknown>;
  target[MARK] = 0;
  return JSON.stringify(root).replace(`"${MARK}":0`, member);
}

export function hostileBodies(matches: Match[], limitBytes: number): fc.Arbitrary<HostileBody> {
  const valid = envelopeText(matches);
  const parsed = JSON.parse(valid) as unknown;
  const objectPaths = [[], ["payload"], ["payload", "metadata"], ["payload", "matches", 0]] as const;

  const randomBytes = fc
    .uint8Array({ minLength: 0, maxLength: 4096 })
    .map((bytes): HostileBody => ({ kind: "random bytes", body: bytes }));
  const randomText = fc
    .string({ maxLength: 2000 })
    .map((text): HostileBody => ({ kind: "random text", body: text }));
  const truncated = fc
    .integer({ min: 0, max: valid.length - 1 })
    .map((cut): HostileBody => ({ kind: "truncated JSON", body: valid.slice(0, cut) }));
  const wrongTypes = fc.tuple(fc.constantFrom(...PATHS), fc.jsonValue({ maxDepth: 3 })).map(
    ([path, value]): HostileBody => ({
      kind: "wrong types",
      body: JSON.stringify(setPath(parsed, path, value)),
    }),
  );
  const anyJson = fc
    .jsonValue({ maxDepth: 4 })
    .map((value): HostileBody => ({ kind: "arbitrary JSON", body: JSON.stringify(value) ?? "null" }));
  const deep = fc
    .tuple(fc.integer({ min: 1, max: 100_000 }), fc.constantFrom("[", '{"a":'), fc.boolean())
    .map(([depth, open, inMatch]): HostileBody => {
      const close = open === "[" ? "]" : "}";
      const nested = `${open.repeat(depth)}1${close.repeat(depth)}`;
      // Either the whole body, or an unknown field of an otherwise valid match (FOGIS adds fields).
      const body = inMatch ? withMember(parsed, ["payload", "matches", 0], `"extra":${nested}`) : nested;
      return { kind: "deep nesting", body };
    });
  const protoKeys = fc
    .tuple(
      fc.constantFrom(...objectPaths),
      fc.constantFrom(
        '"__proto__":{"installd":true,"polluted":"yes"}',
        '"__proto__":{"type":"system_alert"}',
        '"constructor":{"prototype":{"polluted":"yes"}}',
        '"__proto__":null',
        '"prototype":{"polluted":"yes"}',
        '"toString":"not a function"',
        '"hasOwnProperty":1',
      ),
    )
    .map(
      ([path, member]): HostileBody => ({
        kind: "__proto__/constructor keys",
        body: withMember(parsed, path, member),
      }),
    );
  const hugeStrings = fc
    .tuple(
      fc.integer({ min: 10_000, max: limitBytes * 2 }),
      fc.constantFrom(...PATHS.filter((p) => p.length > 0)),
    )
    .map(
      ([size, path]): HostileBody => ({
        kind: "huge strings",
        body: JSON.stringify(setPath(parsed, path, "å".repeat(Math.floor(size / 2)))),
      }),
    );
  const overLimit = fc.integer({ min: limitBytes + 1, max: limitBytes * 3 }).map(
    (size): HostileBody => ({
      kind: "over the size limit",
      body: JSON.stringify({ ...(parsed as object), padding: "x".repeat(Math.max(0, size - valid.length)) }),
    }),
  );

  return fc.oneof(
    randomBytes,
    randomText,
    truncated,
    wrongTypes,
    anyJson,
    deep,
    protoKeys,
    hugeStrings,
    overLimit,
  );
}
