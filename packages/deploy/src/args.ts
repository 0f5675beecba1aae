import { type ParseArgsConfig, parseArgs } from "node:util";
import { UsageError } from "./errors.js";
import { isPhaseNumber, LAST_PHASE, PHASES, type PhaseNumber } from "./phases.js";

/** The command line: one parser per command (node:util parseArgs), and the help texts. */

export const COMMANDS = ["deploy", "plan", "status", "rollback"] as const;
export type Command = (typeof COMMANDS)[number];

export interface CliArgs {
  command: Command;
  /** Whether the command was named (`--help` alone shows the overview). */
  commandNamed: boolean;
  help: boolean;
  composeFiles: string[];
  projectName?: string;
  envFile?: string;
  timeoutMs: number;
  /** deploy/plan: the phase to stop at. */
  phase: PhaseNumber;
  /** rollback (and plan --to): the phase to go back to. */
  to?: PhaseNumber;
  /** deploy/rollback/plan: where to write the JSON report. */
  jsonFile?: string;
  /** status: print JSON instead of the table. */
  jsonStdout: boolean;
  soakMs: number;
  soakIntervalMs: number;
}

const common = {
  "compose-file": { type: "string", short: "f", multiple: true },
  "project-name": { type: "string", short: "p" },
  "env-file": { type: "string" },
  timeout: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];

/** Every option that takes a value (`--json` only in `status` does not; it comes after `status`). */
const VALUE_OPTIONS = new Set([
  "-f",
  "--compose-file",
  "-p",
  "--project-name",
  "--env-file",
  "--timeout",
  "--phase",
  "--to",
  "--json",
  "--soak",
  "--soak-interval",
]);

const OPTIONS = {
  deploy: {
    ...common,
    phase: { type: "string" },
    json: { type: "string" },
    soak: { type: "string" },
    "soak-interval": { type: "string" },
  },
  plan: { ...common, phase: { type: "string" }, to: { type: "string" }, json: { type: "string" } },
  status: { ...common, json: { type: "boolean" } },
  rollback: { ...common, to: { type: "string" }, json: { type: "string" } },
} as const satisfies Record<Command, ParseArgsConfig["options"]>;

function phaseValue(option: string, value: string | undefined): PhaseNumber | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!/^\d+$/.test(value.trim()) || !isPhaseNumber(number)) {
    throw new UsageError(`--${option} takes a phase number 0-${LAST_PHASE}, not "${value}"`);
  }
  return number;
}

function seconds(option: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback * 1000;
  const number = Number(value);
  if (!Number.isFinite(number) || number < min || value.trim() === "") {
    throw new UsageError(
      `--${option} takes a number of seconds${min > 0 ? ` of at least ${min}` : ""}, not "${value}"`,
    );
  }
  return Math.round(number * 1000);
}

export function parseCliArgs(argv: string[]): CliArgs {
  let command: Command = "deploy";
  let commandNamed = false;
  let rest = argv;
  // The command is the first word that is not an option or an option's value, so the options may
  // also come before it (`-p fogis status`).
  let at = 0;
  while (at < argv.length && argv[at]?.startsWith("-")) at += VALUE_OPTIONS.has(argv[at] as string) ? 2 : 1;
  const first = argv[at];
  if (first !== undefined) {
    const without = [...argv.slice(0, at), ...argv.slice(at + 1)];
    if (first === "help") return { ...parseCliArgs(without), help: true };
    if ((COMMANDS as readonly string[]).includes(first)) {
      command = first as Command;
      commandNamed = true;
      rest = without;
    } else if (at === 0) {
      throw new UsageError(
        `unknown command "${first}": expected ${COMMANDS.join(", ")} (or none, which is deploy)`,
      );
    }
    // Otherwise a word after options, e.g. the value of a mistyped option: the parser names it.
  }
  let parsed: { values: Record<string, string | string[] | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: rest,
      options: OPTIONS[command],
      allowPositionals: true,
      strict: true,
    }) as typeof parsed;
  } catch (error) {
    throw new UsageError(`${command}: ${(error as Error).message}`);
  }
  const { values, positionals } = parsed;
  const str = (name: string) => values[name] as string | undefined;
  // `rollback 0` as well as `rollback --to 0`: `pnpm deploy rollback --to 0` is parsed by pnpm 12's
  // own deploy command and rejected, while `pnpm deploy rollback 0` reaches us.
  let to = phaseValue("to", str("to"));
  if (command === "rollback" && positionals.length === 1 && to === undefined)
    to = phaseValue("to", positionals[0]);
  else if (positionals.length > 0)
    throw new UsageError(`${command}: unexpected argument "${positionals[0]}"`);
  if (command === "rollback" && to === undefined && !values.help) {
    throw new UsageError("rollback needs the phase to go back to: rollback --to <0-3> (or rollback <0-3>)");
  }
  if (command === "plan" && to !== undefined && str("phase") !== undefined) {
    throw new UsageError("plan: give --phase (a deploy plan) or --to (a rollback plan), not both");
  }
  return {
    command,
    commandNamed,
    help: Boolean(values.help),
    composeFiles: (values["compose-file"] as string[] | undefined) ?? [],
    ...(str("project-name") ? { projectName: str("project-name") } : {}),
    ...(str("env-file") ? { envFile: str("env-file") } : {}),
    timeoutMs: seconds("timeout", str("timeout"), 60, 1),
    phase: phaseValue("phase", str("phase")) ?? LAST_PHASE,
    ...(to !== undefined ? { to } : {}),
    ...(typeof values.json === "string" ? { jsonFile: values.json } : {}),
    jsonStdout: values.json === true,
    soakMs: seconds("soak", str("soak"), 60),
    soakIntervalMs: seconds("soak-interval", str("soak-interval"), 1, 0.05),
  };
}

const PHASE_LIST = PHASES.map((p) => `  ${p.number} ${p.name.padEnd(15)}${p.summary}`).join("\n");

const COMMON_HELP = `Options for every command:
  -f, --compose-file <file>  compose file (repeatable; default: docker-compose.yml here or above)
  -p, --project-name <name>  compose project (default: COMPOSE_PROJECT_NAME, else the file's folder)
      --env-file <file>      env file handed to compose (default: compose reads .env beside the file)
      --timeout <seconds>    longest wait of any one check (default 60)
  -h, --help                 this help`;

const EXIT_HELP = `Exit codes:
  0  done (or nothing to do)
  1  unexpected error
  2  bad usage
  3  a gate failed; rolled back automatically to the last good phase
  4  a rollback failed; the stack is between phases (see the report and logs)
  5  no Docker engine answered
  6  cannot start: the compose file, the --env-file or a compose CLI is missing, or the stack
     matches no phase`;

const PNPM_NOTE = `With pnpm 12, \`pnpm deploy\` runs this tool, but options right after it are read by
pnpm's own deploy command (\`pnpm deploy --help\` is pnpm's help): write \`pnpm run deploy --phase 2\`,
or \`pnpm deploy -- --phase 2\`. Words pass through: \`pnpm deploy help\`, \`pnpm deploy plan\`.`;

export const HELP: Record<Command | "main", string> = {
  main: `fogis-deploy: the phased rollout of Redis pub/sub onto a running FOGIS stack.

Usage: pnpm run deploy [command] [options]

Commands:
  (none), deploy   bring the stack to phase 4 (or --phase N), phase by phase, gate by gate
  plan             what deploy (or rollback --to N) would do from the current state; changes nothing
  status           the current phase, each container's health and /redis-status
  rollback --to N  back to phase N, phase by phase (0 = no Redis, both services on HTTP)

Phases:
${PHASE_LIST}

${COMMON_HELP}

${EXIT_HELP}

${PNPM_NOTE}
Run \`pnpm run deploy <command> --help\` for a command's options.`,
  deploy: `Usage: pnpm run deploy [deploy] [--phase N] [--json report.json] [--soak S] [options]

Brings the stack from its current phase to phase N (default ${LAST_PHASE}), one phase at a time:
the phase's compose actions, then its gate. A failed gate rolls back to the last good phase
at once and exits 3. Not deployed yet? Phase 0 starts both services on HTTP alone first.

  --phase <N>            stop at phase N (0-${LAST_PHASE})
  --json <file>          write a report of every phase, action and check (expected, observed,
                         pass/fail, duration) to <file>
  --soak <seconds>       phase 4 soak window (default 60); the Redis error rate must stay < 1%
  --soak-interval <s>    pause between soak samples (default 1)

${COMMON_HELP}

${EXIT_HELP}`,
  plan: `Usage: pnpm run deploy plan [--phase N | --to N] [--json plan.json] [options]

Shows what \`deploy\` (or \`rollback --to N\`) would do from the current state: every compose
command line, every gate, and where a failed gate would roll back to. Changes nothing.

  --phase <N>    plan a deploy up to phase N (default ${LAST_PHASE})
  --to <N>       plan a rollback to phase N
  --json <file>  also write the plan as JSON

${COMMON_HELP}`,
  status: `Usage: pnpm run deploy status [--json] [options]

The current phase (from the containers' settings, and the record of the last validation), each
container's state and health, and each service's /redis-status, in one table.

  --json   print JSON instead of the table

${COMMON_HELP}`,
  rollback: `Usage: pnpm run deploy rollback --to N [--json report.json] [options]
       pnpm deploy rollback N

Takes the stack back to phase N (0-3), one phase at a time, checking each phase's steady state.
0 is the stack without Redis: both services with REDIS_PUBSUB_ENABLED=false, redis stopped.
A stack that matches no phase is brought straight to phase N; one that is not deployed (neither
service runs) has nothing to roll back: the command says so, changes nothing and exits 0.

  --to <N>       the phase to go back to
  --json <file>  write a report of every step and check

${COMMON_HELP}

${EXIT_HELP}`,
};
