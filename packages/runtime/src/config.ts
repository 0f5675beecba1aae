import { isIP } from "node:net";
import { z } from "zod";

/**
 * Pieces of the environment contract both services share (DESIGN §9), and the one way a service
 * turns its environment into typed config: validate everything at start, and stop with a message
 * that names each bad variable and what it should look like, never its value (it may be a secret).
 */

export class ConfigError extends Error {
  constructor(
    readonly service: string,
    readonly problems: string[],
  ) {
    super(`${service}: invalid configuration\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

export function loadConfig<S extends z.ZodType>(
  service: string,
  schema: S,
  env: Record<string, string | undefined>,
): z.output<S> {
  // Blank variables (FOO= in a .env file) count as unset, so defaults apply.
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ""),
  );
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.length ? issue.path.join(".") : "(environment)";
    return `${name}: ${issue.message}`;
  });
  throw new ConfigError(service, problems);
}

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off"]);

export function envBoolean(defaultValue: boolean) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return defaultValue;
      const normalized = value.trim().toLowerCase();
      if (TRUE.has(normalized)) return true;
      if (FALSE.has(normalized)) return false;
      ctx.addIssue({ code: "custom", message: "expected true or false" });
      return z.NEVER;
    });
}

export function envInteger(defaultValue: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return defaultValue;
      const parsed = Number(value);
      if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
        ctx.addIssue({ code: "custom", message: `expected a whole number from ${min} to ${max}` });
        return z.NEVER;
      }
      return parsed;
    });
}

export function envUrl(protocols: string[], message: string) {
  return z.string().refine((value) => {
    try {
      return protocols.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, message);
}

/**
 * Who the client is behind a reverse proxy (express's "trust proxy"): `false` = the TCP peer;
 * a number = that many proxies in front, each appending to X-Forwarded-For; a list = the
 * addresses, subnets or names (loopback, linklocal, uniquelocal) of the proxies to trust.
 */
export type TrustProxy = false | number | string[];

const PROXY_NAMES = new Set(["loopback", "linklocal", "uniquelocal"]);

function isProxyAddress(entry: string): boolean {
  if (PROXY_NAMES.has(entry)) return true;
  const [address = "", prefix, ...rest] = entry.split("/");
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * TRUST_PROXY. `true` is refused: trusting every hop lets any caller pick its own address with
 * an X-Forwarded-For header, and with it escape the failed-token limit.
 */
export function envTrustProxy() {
  return z
    .string()
    .optional()
    .transform((value, ctx): TrustProxy => {
      const normalized = value?.trim().toLowerCase();
      if (normalized === undefined || FALSE.has(normalized)) return false;
      if (/^\d+$/.test(normalized)) {
        const hops = Number(normalized);
        if (hops <= 10) return hops;
      }
      const entries = normalized.split(",").map((entry) => entry.trim());
      if (!TRUE.has(normalized) && entries.every(isProxyAddress)) return entries;
      ctx.addIssue({
        code: "custom",
        message:
          "expected false, the number of reverse proxies in front (e.g. 1), or their addresses (e.g. loopback or 172.16.0.0/12); not true, which would let any caller choose its own address",
      });
      return z.NEVER;
    });
}

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** The variables both services read. Spread into each service's own schema. */
export const sharedEnv = {
  REDIS_URL: envUrl(
    ["redis:", "rediss:"],
    "expected redis://[user:password@]host:port[/db] or rediss://…",
  ).default("redis://127.0.0.1:6379"),
  REDIS_PUBSUB_ENABLED: envBoolean(true),
  REDIS_MATCH_UPDATES_CHANNEL: z.string().optional(),
  REDIS_PROCESSOR_STATUS_CHANNEL: z.string().optional(),
  REDIS_SYSTEM_ALERTS_CHANNEL: z.string().optional(),
  DATA_DIR: z.string().default("./data"),
  API_TOKEN: z
    .string({ message: "is required: every POST needs it (generate one: openssl rand -hex 24)" })
    .min(16, "must be at least 16 characters (generate one: openssl rand -hex 24)"),
  LOG_LEVEL: z.enum(LOG_LEVELS, { message: `expected one of ${LOG_LEVELS.join(", ")}` }).default("info"),
  HOST: z.string().default("0.0.0.0"),
  TRUST_PROXY: envTrustProxy(),
};

/** Hides the password (and user) of a Redis URL for logs and status pages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparseable url)";
  }
}
