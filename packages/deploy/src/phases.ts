/**
 * The phases of the Redis pub/sub rollout (DESIGN §10) as data: what the stack looks like at each
 * phase, and the compose actions that move it one phase forward or back. Everything else (gates,
 * the machine that runs them, the plan) reads these tables, so a phase is changed in one place.
 */

export const SERVICES = ["redis", "match-processor", "calendar-sync"] as const;
export type ServiceName = (typeof SERVICES)[number];

export const PHASE_NUMBERS = [0, 1, 2, 3, 4] as const;
export type PhaseNumber = (typeof PHASE_NUMBERS)[number];
export const LAST_PHASE: PhaseNumber = 4;

/** What compose runs at a phase. Phases 3 and 4 look the same; 4 is 3 once validated. */
export interface StackSettings {
  redisRunning: boolean;
  processorPubsub: boolean;
  calendarPubsub: boolean;
}

export interface PhaseDefinition {
  number: PhaseNumber;
  name: string;
  /** One line for the plan and the status table. */
  summary: string;
  settings: StackSettings;
}

export const PHASES: readonly PhaseDefinition[] = [
  {
    number: 0,
    name: "http-only",
    summary: "no Redis: both services on HTTP alone (REDIS_PUBSUB_ENABLED=false), redis stopped",
    settings: { redisRunning: false, processorPubsub: false, calendarPubsub: false },
  },
  {
    number: 1,
    name: "infrastructure",
    summary: "Redis up, healthy, persistence on; services still on HTTP",
    settings: { redisRunning: true, processorPubsub: false, calendarPubsub: false },
  },
  {
    number: 2,
    name: "publisher",
    summary: "match-processor publishes to Redis, HTTP fallback still armed",
    settings: { redisRunning: true, processorPubsub: true, calendarPubsub: false },
  },
  {
    number: 3,
    name: "subscriber",
    summary: "calendar-sync subscribes; an end-to-end probe arrived",
    settings: { redisRunning: true, processorPubsub: true, calendarPubsub: true },
  },
  {
    number: 4,
    name: "validation",
    summary: "full flow, fallback drill and soak passed",
    settings: { redisRunning: true, processorPubsub: true, calendarPubsub: true },
  },
];

export function phase(number: PhaseNumber): PhaseDefinition {
  return PHASES[number] as PhaseDefinition;
}

export function isPhaseNumber(value: number): value is PhaseNumber {
  return (PHASE_NUMBERS as readonly number[]).includes(value);
}

export function phaseLabel(number: PhaseNumber | null): string {
  return number === null ? "none (not deployed)" : `${number} ${phase(number).name}`;
}

/** The compose variables that carry each service's pub/sub switch (the compose contract). */
export const PUBSUB_VARIABLES = {
  "match-processor": "MATCH_PROCESSOR_REDIS_PUBSUB_ENABLED",
  "calendar-sync": "CALENDAR_SYNC_REDIS_PUBSUB_ENABLED",
} as const;

export type AppService = keyof typeof PUBSUB_VARIABLES;

/**
 * One compose invocation. `up` with `recreate` is `up -d --no-deps --force-recreate <services>`
 * (`--no-deps`: the services depend_on redis, which must not be started by a side effect).
 */
export type ComposeAction =
  | { kind: "up"; services: ServiceName[]; recreate: boolean; env: Record<string, string> }
  | { kind: "stop"; services: ServiceName[] };

export function pubsubEnv(settings: StackSettings): Record<string, string> {
  return {
    [PUBSUB_VARIABLES["match-processor"]]: String(settings.processorPubsub),
    [PUBSUB_VARIABLES["calendar-sync"]]: String(settings.calendarPubsub),
  };
}

/**
 * The compose actions that turn `from` into `to`, in a safe order: Redis starts before anything
 * uses it and stops after nothing does; the subscriber turns on after the publisher and off before it.
 * Every `up` carries both pub/sub variables of `to`, so no invocation depends on the caller's shell.
 */
export function actionsBetween(from: StackSettings | null, to: StackSettings): ComposeAction[] {
  const env = pubsubEnv(to);
  if (from === null) {
    const services: ServiceName[] = to.redisRunning
      ? ["redis", "match-processor", "calendar-sync"]
      : ["match-processor", "calendar-sync"];
    return to.redisRunning
      ? [{ kind: "up", services, recreate: false, env }]
      : [
          { kind: "up", services, recreate: false, env },
          { kind: "stop", services: ["redis"] },
        ];
  }
  const actions: ComposeAction[] = [];
  if (to.redisRunning && !from.redisRunning)
    actions.push({ kind: "up", services: ["redis"], recreate: false, env });
  const recreate = (service: AppService): ComposeAction => ({
    kind: "up",
    services: [service],
    recreate: true,
    env,
  });
  const processorChanges = from.processorPubsub !== to.processorPubsub;
  const calendarChanges = from.calendarPubsub !== to.calendarPubsub;
  if (to.processorPubsub) {
    if (processorChanges) actions.push(recreate("match-processor"));
    if (calendarChanges) actions.push(recreate("calendar-sync"));
  } else {
    if (calendarChanges) actions.push(recreate("calendar-sync"));
    if (processorChanges) actions.push(recreate("match-processor"));
  }
  if (!to.redisRunning && from.redisRunning) actions.push({ kind: "stop", services: ["redis"] });
  return actions;
}

/** Settings → the phase they are, or null when they match none (e.g. only the subscriber on Redis). */
export function phaseOfSettings(settings: StackSettings): Exclude<PhaseNumber, 4> | null {
  for (const candidate of PHASES.slice(0, 4)) {
    const s = candidate.settings;
    if (
      s.redisRunning === settings.redisRunning &&
      s.processorPubsub === settings.processorPubsub &&
      s.calendarPubsub === settings.calendarPubsub
    ) {
      return candidate.number as Exclude<PhaseNumber, 4>;
    }
  }
  return null;
}

/** A compose action as the progress names it: "recreate match-processor (match-processor pub/sub on)". */
export function describeAction(action: ComposeAction): string {
  if (action.kind === "stop") return `stop ${action.services.join(", ")}`;
  const settings = action.services
    .filter((service): service is AppService => service !== "redis")
    .map(
      (service) => `${service} pub/sub ${action.env[PUBSUB_VARIABLES[service]] === "true" ? "on" : "off"}`,
    );
  const verb = action.recreate ? "recreate" : "start";
  return `${verb} ${action.services.join(", ")}${settings.length ? ` (${settings.join(", ")})` : ""}`;
}
