import { existsSync } from "node:fs";
import { basename, delimiter, dirname, join, resolve } from "node:path";
import type { CliArgs } from "./args.js";
import { PreconditionError } from "./errors.js";

/**
 * Which stack the command acts on: compose files, project name and env file, resolved the way
 * compose resolves them, so the tool and `docker compose` in the same folder see the same project.
 * Relative paths are relative to where the user ran the command (pnpm runs root scripts from the
 * workspace root and passes the original folder as INIT_CWD).
 */

export interface DeployTarget {
  composeFiles: string[];
  project: string;
  envFile?: string;
  /** The first compose file's folder: compose's working directory and where the state file lives. */
  composeDir: string;
}

const DEFAULT_FILES = ["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"];

/** Compose's own normalisation of a folder name into a project name. */
export function projectNameFrom(folder: string): string {
  return folder.toLowerCase().replace(/[^a-z0-9_-]/g, "");
}

/** The default file, plus its override file when there is one: what `docker compose` reads without -f. */
function findComposeFiles(start: string): string[] | undefined {
  for (let dir = start; ; dir = dirname(dir)) {
    for (const name of DEFAULT_FILES) {
      const candidate = join(dir, name);
      if (!existsSync(candidate)) continue;
      const stem = name.replace(/\.ya?ml$/, "");
      const override = [`${stem}.override.yml`, `${stem}.override.yaml`]
        .map((file) => join(dir, file))
        .find((file) => existsSync(file));
      return override ? [candidate, override] : [candidate];
    }
    if (dirname(dir) === dir) return undefined;
  }
}

export function resolveTarget(args: CliArgs, env: NodeJS.ProcessEnv, cwd: string): DeployTarget {
  const base = env.INIT_CWD || cwd;
  let files = args.composeFiles.map((file) => resolve(base, file));
  if (files.length === 0 && env.COMPOSE_FILE) {
    files = env.COMPOSE_FILE.split(delimiter)
      .filter(Boolean)
      .map((file) => resolve(base, file));
  }
  if (files.length === 0) {
    const found = findComposeFiles(base);
    if (!found) {
      throw new PreconditionError(
        `no compose file in ${base} or above it: pass --compose-file <docker-compose.yml>`,
      );
    }
    files = found;
  }
  for (const file of files) {
    if (!existsSync(file)) throw new PreconditionError(`compose file not found: ${file}`);
  }
  const composeDir = dirname(files[0] as string);
  const envFile = args.envFile ? resolve(base, args.envFile) : undefined;
  if (envFile && !existsSync(envFile)) {
    throw new PreconditionError(
      `env file not found: ${envFile} (--env-file is relative to ${base}); give the path of your .env, or leave --env-file out to use the .env beside ${composeDir}/${basename(files[0] as string)}`,
    );
  }
  const project = args.projectName ?? (env.COMPOSE_PROJECT_NAME || projectNameFrom(basename(composeDir)));
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(project)) {
    throw new PreconditionError(
      `"${project}" is not a valid compose project name (lowercase letters, digits, - and _; starting with a letter or digit): pass --project-name`,
    );
  }
  return { composeFiles: files, project, composeDir, ...(envFile ? { envFile } : {}) };
}
