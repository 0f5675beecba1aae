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

/**
 * The one reading of a yes/no variable, for the services' loaders and for tools that read a
 * container's environment (pnpm deploy): unset or blank is the default; anything but
 * true/1/yes/on or false/0/no/off is `undefined`, never silently one of them.
 */
export function parseEnvBoolean(value: string | undefined, defaultValue: boolean): boolean | undefined {
  const normalized = value?.trim().toLowerCase();
  if (!normalized) return defaultValue;
  if (TRUE.has(normalized)) return true;
  if (FALSE.has(normalized)) return false;
  return undefined;
}

export function envBoolean(defaultValue: boolean) {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      const parsed = parseEnvBoolean(value, defaultValue);
      if (parsed !== undefined) return parsed;
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

/** One Redis Sentinel, as `REDIS_SENTINELS` lists it. */
export interface SentinelAddress {
  host: string;
  port: number;
}

/** Finding the master through Redis Sentinel (DESIGN §14). */
export interface SentinelConfig {
  sentinels: SentinelAddress[];
  /** The master group name the sentinels monitor (their `sentinel monitor <name> ...`). */
  name: string;
  /** AUTH for the sentinels themselves (their `requirepass`); the master's comes from REDIS_URL. */
  password?: string;
}

/**
 * Where a service's Redis is: `url` alone, or the sentinels that name the master, with `url`
 * still giving its password, TLS (rediss://) and database.
 */
export interface RedisTarget {
  url: string;
  sentinel?: SentinelConfig;
}

const SENTINELS_EXAMPLE = "e.g. sentinel-1:26379,sentinel-2:26379,sentinel-3:26379";
const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?)):(\d{1,5})$/;

/**
 * `REDIS_SENTINELS`: `host:port,host:port,...` (an IPv6 address in brackets). Problems name the
 * entry by its position, never by its text: a pasted URL may carry a password.
 */
export function envSentinelList() {
  return z.string().transform((value, ctx): SentinelAddress[] => {
    const entries = value.split(",").map((entry) => entry.trim());
    const sentinels: SentinelAddress[] = [];
    const seen = new Map<string, number>();
    entries.forEach((entry, index) => {
      const which = entries.length > 1 ? `entry ${index + 1} of ${entries.length}` : "the value";
      const match = HOST_PORT.exec(entry);
      const port = Number(match?.[3]);
      if (!match || port < 1 || port > 65_535) {
        ctx.addIssue({
          code: "custom",
          message: `${which} is not host:port (port 1-65535; no scheme, no password): expected a comma-separated list of sentinels, ${SENTINELS_EXAMPLE}`,
        });
        return;
      }
      const host = (match[1] ?? match[2]) as string;
      const key = `${host.toLowerCase()}:${port}`;
      const first = seen.get(key);
      if (first !== undefined) {
        ctx.addIssue({
          code: "custom",
          message: `${which} repeats entry ${first + 1}: list each sentinel once`,
        });
        return;
      }
      seen.set(key, index);
      sentinels.push({ host, port });
    });
    return sentinels;
  });
}

/**
 * Cross-variable rules of the Sentinel settings, for each service schema's `superRefine`: the list
 * and the name come together, and the sentinel password means nothing without them.
 */
export function checkSentinelEnv(
  env: {
    REDIS_SENTINELS?: SentinelAddress[];
    REDIS_SENTINEL_NAME?: string;
    REDIS_SENTINEL_PASSWORD?: string;
  },
  ctx: z.RefinementCtx,
): void {
  if (env.REDIS_SENTINELS && !env.REDIS_SENTINEL_NAME) {
    ctx.addIssue({
      code: "custom",
      path: ["REDIS_SENTINEL_NAME"],
      message:
        "is required with REDIS_SENTINELS: the master group name the sentinels monitor (the <name> of their `sentinel monitor <name> <host> <port> <quorum>` line), e.g. fogis",
    });
  }
  if (!env.REDIS_SENTINELS && env.REDIS_SENTINEL_NAME) {
    ctx.addIssue({
      code: "custom",
      path: ["REDIS_SENTINELS"],
      message: `is required with REDIS_SENTINEL_NAME: the sentinels to ask for the master, ${SENTINELS_EXAMPLE} (or unset REDIS_SENTINEL_NAME to use the Redis in REDIS_URL directly)`,
    });
  }
  if (!env.REDIS_SENTINELS && !env.REDIS_SENTINEL_NAME && env.REDIS_SENTINEL_PASSWORD) {
    ctx.addIssue({
      code: "custom",
      path: ["REDIS_SENTINEL_PASSWORD"],
      message: "is only used with REDIS_SENTINELS and REDIS_SENTINEL_NAME: set those too, or unset it",
    });
  }
}

/** The Redis a service connects to, from its validated shared variables. */
export function redisTargetFrom(env: {
  REDIS_URL: string;
  REDIS_SENTINELS?: SentinelAddress[];
  REDIS_SENTINEL_NAME?: string;
  REDIS_SENTINEL_PASSWORD?: string;
}): RedisTarget {
  if (!env.REDIS_SENTINELS || !env.REDIS_SENTINEL_NAME) return { url: env.REDIS_URL };
  return {
    url: env.REDIS_URL,
    sentinel: {
      sentinels: env.REDIS_SENTINELS,
      name: env.REDIS_SENTINEL_NAME,
      ...(env.REDIS_SENTINEL_PASSWORD ? { password: env.REDIS_SENTINEL_PASSWORD } : {}),
    },
  };
}

/** A target as logs and status endpoints show it: URL redacted, sentinel password as "***". */
export function describeRedisTarget(target: RedisTarget): Record<string, unknown> {
  if (!target.sentinel) return { mode: "standalone", url: redactUrl(target.url) };
  return {
    mode: "sentinel",
    url: redactUrl(target.url),
    sentinels: target.sentinel.sentinels.map(formatAddress),
    sentinel_name: target.sentinel.name,
    sentinel_password: target.sentinel.password ? "***" : null,
  };
}

/** host:port, with an IPv6 host in brackets. */
export function formatAddress({ host, port }: SentinelAddress): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The variables both services read. Spread into each service's own schema. */
export const sharedEnv = {
  REDIS_URL: envUrl(
    ["redis:", "rediss:"],
    "expected redis://[user:password@]host:port[/db] or rediss://…",
  ).default("redis://127.0.0.1:6379"),
  REDIS_PUBSUB_ENABLED: envBoolean(true),
  // With these two, the master is whatever the sentinels name; REDIS_URL still gives its password,
  // TLS and database. Both services must also apply `checkSentinelEnv` (both or neither).
  REDIS_SENTINELS: envSentinelList().optional(),
  REDIS_SENTINEL_NAME: z
    .string()
    .regex(/^\S+$/, "expected the master group name the sentinels monitor, without spaces, e.g. fogis")
    .optional(),
  REDIS_SENTINEL_PASSWORD: z.string().optional(),
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
