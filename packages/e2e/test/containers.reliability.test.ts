import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { repoRoot } from "./reliability/service-process.js";

/**
 * A static check of the container set-up (no engine needed): every container runs as a non-root
 * user, and Redis is published on 127.0.0.1 at most, with the defaults (no .env).
 */

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  user?: string;
  command?: string | string[];
  ports?: Array<string | { host_ip?: string; published?: string | number }>;
  network_mode?: string;
  privileged?: boolean;
}

const composePath = join(repoRoot, "docker-compose.yml");

function loadCompose(): Record<string, ComposeService> {
  if (!existsSync(composePath)) {
    throw new Error(`${composePath} is missing: the compose file of issue #5 is not in this checkout.`);
  }
  const compose = parse(readFileSync(composePath, "utf8"), { merge: true }) as {
    services?: Record<string, ComposeService>;
  };
  if (!compose.services) throw new Error("docker-compose.yml has no services");
  return compose.services;
}

/** `${VAR:-default}` / `${VAR-default}` / `${VAR}` as compose resolves them with nothing set. */
function withDefaults(value: string): string {
  return value.replace(
    /\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}/g,
    (_, _name, fallback: string | undefined) => fallback ?? "",
  );
}

/** The host address each published port binds to; "0.0.0.0" when none is given. */
function publishedAddresses(service: ComposeService): string[] {
  return (service.ports ?? []).map((port) => {
    if (typeof port === "object") return port.host_ip ?? "0.0.0.0";
    const parts = withDefaults(String(port)).split(":");
    // "host_ip:host_port:container_port" (IPv6 hosts come bracketed); fewer parts: all interfaces.
    return parts.length >= 3
      ? parts
          .slice(0, -2)
          .join(":")
          .replace(/^\[|\]$/g, "")
      : "0.0.0.0";
  });
}

/** The user the final stage of a Dockerfile runs as, or "root" when it never says. */
function dockerfileUser(path: string): string {
  const lines = readFileSync(path, "utf8")
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim());
  const lastFrom = lines.map((line) => /^FROM\s/i.test(line)).lastIndexOf(true);
  let user = "root";
  for (const line of lines.slice(lastFrom + 1)) {
    const match = /^USER\s+(\S+)/i.exec(line);
    if (match?.[1]) user = match[1];
  }
  return user;
}

const isRoot = (user: string) => /^(root|0)(:.*)?$/.test(user.trim());
const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

describe("containers (docker-compose.yml and the Dockerfiles)", () => {
  it("every service runs as a non-root user", () => {
    const services = loadCompose();
    const problems: string[] = [];
    for (const [name, service] of Object.entries(services)) {
      if (service.user !== undefined) {
        if (isRoot(String(service.user))) problems.push(`${name}: user: ${service.user}`);
        continue;
      }
      if (service.build) {
        const build = typeof service.build === "string" ? { context: service.build } : service.build;
        const dockerfile = join(repoRoot, build.context ?? ".", build.dockerfile ?? "Dockerfile");
        if (!existsSync(dockerfile)) {
          problems.push(
            `${name}: ${dockerfile} is missing (the Dockerfile of issue #5 is not in this checkout)`,
          );
          continue;
        }
        const user = dockerfileUser(dockerfile);
        if (isRoot(user))
          problems.push(`${name}: the final stage of ${dockerfile} runs as ${user} (add USER node)`);
        continue;
      }
      const command = Array.isArray(service.command) ? service.command.join(" ") : (service.command ?? "");
      if (
        /^\$\{REDIS_IMAGE\b/.test(service.image ?? "") &&
        /exec docker-entrypoint\.sh redis-server/.test(command)
      ) {
        // The redis image's entrypoint drops root before it starts redis-server (to uid 999, `redis`):
        // redis, and with the ha profile its replica and the sentinels (redis-server --sentinel).
        continue;
      }
      if (/fogis-api-client-service/.test(service.image ?? "")) continue; // a third-party image, opt-in profile
      problems.push(
        `${name}: no user: and no Dockerfile USER; it runs as whatever the image says (add user:)`,
      );
    }
    expect(problems).toEqual([]);
  });

  it("Redis is published on loopback only (or not at all) by default, and nothing uses host networking or privileges", () => {
    const services = loadCompose();
    const redis = services.redis;
    expect(redis, "docker-compose.yml has a redis service").toBeDefined();
    for (const address of publishedAddresses(redis as ComposeService)) {
      expect(LOOPBACK, `redis published on ${address}`).toContain(address);
    }
    for (const [name, service] of Object.entries(services)) {
      expect(service.network_mode, `${name}: network_mode`).not.toBe("host");
      expect(service.privileged ?? false, `${name}: privileged`).toBe(false);
    }
  });
});
