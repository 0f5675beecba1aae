import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Stand-ins for the two compose CLIs, for the code that chooses between them. Compose v2 (the
 * `docker compose` plugin users have) cannot be installed here (Debian 12 ships only v1.29), so
 * these follow the documented behaviour of both: `docker compose version` answers
 * "Docker Compose version v2.x" (or, without the plugin, `docker: unknown command: docker compose`
 * and exit 1), `docker-compose version` answers "docker-compose version 1.29.2, build ...", and
 * `version --short` the bare number. Every other command succeeds and is recorded with its
 * arguments and the pub/sub settings in its environment, so a test can check what a tool ran.
 */

export interface FakeComposeOptions {
  /** A `docker` with the compose v2 plugin (else a `docker` without it). */
  v2: boolean;
  /** A `docker-compose` v1 executable. */
  v1: boolean;
}

export interface ComposeCall {
  /** "docker" or "docker-compose". */
  program: string;
  args: string[];
  /** The `*_REDIS_PUBSUB_ENABLED` variables the call got, for the deploy tool's phases. */
  env: Record<string, string>;
}

export interface FakeComposeClis {
  /** PATH holding only the fakes: put it in the environment the code under test runs with. */
  env: NodeJS.ProcessEnv;
  calls(): ComposeCall[];
  remove(): void;
}

const SEPARATOR = "\u001f";

export function fakeComposeClis(options: FakeComposeOptions): FakeComposeClis {
  const dir = mkdtempSync(join(tmpdir(), "fake-compose-"));
  const log = join(dir, "calls.log");
  writeFileSync(log, "");
  // One line per call: program, arguments and pub/sub settings, separated by \x1f.
  const record = (program: string) =>
    `{ printf '%s' '${program}'; for a in "$@"; do printf '\\037%s' "$a"; done; ` +
    `printf '\\037env:MATCH_PROCESSOR_REDIS_PUBSUB_ENABLED=%s\\037env:CALENDAR_SYNC_REDIS_PUBSUB_ENABLED=%s\\n' ` +
    `"$MATCH_PROCESSOR_REDIS_PUBSUB_ENABLED" "$CALENDAR_SYNC_REDIS_PUBSUB_ENABLED"; } >> '${log}'`;
  const docker = options.v2
    ? `if [ "$1" = compose ] && [ "$2" = version ]; then
  if [ "$3" = --short ]; then echo 2.29.7; else echo "Docker Compose version v2.29.7"; fi; exit 0
fi
${record("docker")}
exit 0`
    : `if [ "$1" = compose ]; then echo "docker: unknown command: docker compose" >&2; exit 1; fi
${record("docker")}
exit 0`;
  write(dir, "docker", docker);
  if (options.v1) {
    write(
      dir,
      "docker-compose",
      `if [ "$1" = version ]; then
  if [ "$2" = --short ]; then echo 1.29.2; else echo "docker-compose version 1.29.2, build unknown"; fi; exit 0
fi
${record("docker-compose")}
exit 0`,
    );
  }
  return {
    env: { PATH: dir },
    calls: () =>
      readFileSync(log, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => {
          const [program = "", ...rest] = line.split(SEPARATOR);
          const env = Object.fromEntries(
            rest
              .filter((part) => part.startsWith("env:"))
              .map((part) => part.slice(4).split("=") as [string, string])
              .filter(([, value]) => value !== ""),
          );
          return { program, args: rest.filter((part) => !part.startsWith("env:")), env };
        }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function write(dir: string, name: string, body: string): void {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
}
