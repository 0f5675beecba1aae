import type { ProcessorReading, ProcessorReport } from "./processor-status.js";

/**
 * The pipeline as the status page shows it: a row of steps, each pass/warn/fail with when it last
 * worked and, when it is not pass, why. Built from a generic list, so push backends and
 * notification targets are steps like any other. Pure: everything it reads comes in as `PipelineInput`.
 */

export type StepState = "pass" | "warn" | "fail";

export type StepKind = "source" | "processor" | "delivery" | "calendar-sync" | "backend" | "notification";

/**
 * Why a step is not pass. `code` is ours (localized by the page); `detail` is what the service
 * itself reported (an error message), shown as it is.
 */
export interface StepReason {
  code:
    | "reported"
    | "processor_unreachable"
    | "unknown_processor_unreachable"
    | "no_cycle_yet"
    | "source_failed"
    | "delivery_failed"
    | "no_delivery_path"
    | "redis_down_http_fallback"
    | "redis_down"
    | "apply_failed"
    | "no_snapshot_yet"
    | "state_file_unreadable"
    | "behind_processor"
    | "backend_pending"
    | "notification_pending";
  detail?: string;
}

export interface PipelineStep {
  /** Stable across updates, e.g. "source", "backend:caldav". */
  id: string;
  kind: StepKind;
  /** The name of a backend or notification target; fixed steps are named by the page. */
  name?: string;
  /** What a backend or notification target is, e.g. "caldav", "ntfy". */
  targetKind?: string;
  /** For the delivery step: which path carries updates now. */
  via?: "redis" | "http" | "none";
  status: StepState;
  /** When this step last worked, ISO-8601; null when never (since it was watched). */
  lastWorked: string | null;
  reason?: StepReason;
  /** Notification targets tell the referee about changes; their failure leaves the calendar right. */
  affectsCalendar: boolean;
}

/** A push backend's or notification target's own status (DESIGN §11, §12). */
export interface TargetStatus {
  name: string;
  kind?: string | null;
  status: StepState;
  lastSuccess?: string | null;
  lastError?: string | null;
  /** Changes not yet on the remote side (push backends). */
  pending?: number | null;
}

export interface PipelineInput {
  now: Date;
  processor: ProcessorReading;
  subscriber: {
    /** REDIS_PUBSUB_ENABLED. */
    enabled: boolean;
    subscribed: boolean;
    /** While subscribed: now; otherwise when the subscription was last up. */
    lastSubscribed?: Date;
    lastError?: string;
  };
  calendarSync: {
    /** When a snapshot was last applied (or found already applied). */
    lastSuccess?: Date;
    lastFailure?: { at: Date; error: string };
    /** snapshot_hash of the snapshot the calendar has (when the processor sends one). */
    snapshotHash?: string;
    /** State files that could not be read at start, with the reason. */
    stateProblems: string[];
    /** What calendar-sync's /redis-status lists as issues (another processor, a state file that cannot be written). */
    issues?: readonly StepIssue[];
  };
  /** Push backends beyond the feed (the feed itself is the calendar-sync step). */
  backends: TargetStatus[];
}

export type Verdict = "good" | "degraded" | "broken";

/** A snapshot of the processor the calendar still lacks after this long means the calendar is behind. */
export const BEHIND_AFTER_MS = 15_000;

export function buildPipeline(input: PipelineInput): PipelineStep[] {
  const processor = input.processor;
  const report: ProcessorReport | undefined = processor.reachable ? processor.report : processor.lastReport;
  const issues = processor.reachable ? (processor.report.issues ?? []) : [];
  return [
    withIssues(
      sourceStep(processor, report),
      issues.filter((issue) => issueStep(issue.code) === "source"),
    ),
    withIssues(
      processorStep(processor, report, input.calendarSync.snapshotHash),
      issues.filter((issue) => issueStep(issue.code) === "processor"),
    ),
    withIssues(
      deliveryStep(input, report),
      issues.filter((issue) => issueStep(issue.code) === "delivery"),
    ),
    withIssues(calendarSyncStep(input, report), input.calendarSync.issues ?? []),
    ...input.backends.map((backend) => targetStep("backend", backend, true)),
    ...(report?.notifications ?? []).map((target) => targetStep("notification", target, false)),
  ];
}

/** Broken when a step the calendar depends on fails, degraded on any other warning or failure. */
export function verdictOf(steps: readonly PipelineStep[]): Verdict {
  if (steps.some((step) => step.status === "fail" && step.affectsCalendar)) return "broken";
  if (steps.some((step) => step.status !== "pass")) return "degraded";
  return "good";
}

function sourceStep(processor: ProcessorReading, report: ProcessorReport | undefined): PipelineStep {
  const step = {
    id: "source",
    kind: "source",
    lastWorked: report?.last_successful_fetch ?? null,
    affectsCalendar: true,
  } as const;
  if (!processor.reachable) {
    return { ...step, status: "warn", reason: { code: "unknown_processor_unreachable" } };
  }
  const cycle = report?.last_cycle;
  if (!cycle) return { ...step, status: "warn", reason: { code: "no_cycle_yet" } };
  if (cycle.outcome === "source_failed") {
    return { ...step, status: "fail", reason: { code: "source_failed", detail: cycle.error ?? undefined } };
  }
  return { ...step, status: "pass" };
}

function processorStep(
  processor: ProcessorReading,
  report: ProcessorReport | undefined,
  calendarHash: string | undefined,
): PipelineStep {
  const lastWorked = latest(
    report?.last_confirmed_delivery?.delivered_at,
    report?.last_cycle?.status === "completed" ? report.last_cycle.started_at : undefined,
  );
  const step = { id: "processor", kind: "processor", affectsCalendar: true } as const;
  if (!processor.reachable) {
    return {
      ...step,
      status: "fail",
      lastWorked: latest(lastWorked, processor.lastReachable?.toISOString()),
      reason: { code: "processor_unreachable", detail: processor.error },
    };
  }
  // A delivery that failed (e.g. calendar-sync was still starting) but whose snapshot the calendar
  // has since taken by resyncing is history: the next cycle sends again, and nothing is missing.
  const latestHash = processor.report.latest_snapshot?.snapshot_hash;
  const calendarHasLatest = latestHash != null && latestHash === calendarHash;
  if (processor.report.last_cycle?.outcome === "delivery_failed" && !calendarHasLatest) {
    return {
      ...step,
      status: "fail",
      lastWorked,
      reason: { code: "delivery_failed", detail: processor.report.last_cycle.error ?? undefined },
    };
  }
  return { ...step, status: "pass", lastWorked };
}

function deliveryStep(input: PipelineInput, report: ProcessorReport | undefined): PipelineStep {
  const { subscriber, now } = input;
  const step = { id: "delivery", kind: "delivery", affectsCalendar: true } as const;
  const processorOnRedis = report ? report.delivery_path === "redis" : true;
  if (!subscriber.enabled) {
    // Pub/sub off on purpose: HTTP is the path, and it works as long as the processor's does.
    const failing = report?.status === "fail" && report.delivery_path === "none";
    return {
      ...step,
      via: "http",
      status: failing ? "fail" : "pass",
      lastWorked: report?.last_confirmed_delivery?.delivered_at ?? null,
      ...(failing
        ? { reason: { code: "no_delivery_path", detail: report?.fallback?.lastError ?? undefined } }
        : {}),
    };
  }
  const lastWorked = subscriber.subscribed
    ? now.toISOString()
    : (subscriber.lastSubscribed?.toISOString() ?? null);
  if (subscriber.subscribed && processorOnRedis) return { ...step, via: "redis", status: "pass", lastWorked };
  const detail =
    (subscriber.subscribed ? undefined : subscriber.lastError) ?? report?.fallback?.lastError ?? undefined;
  if (report?.delivery_path === "none") {
    return { ...step, via: "none", status: "fail", lastWorked, reason: { code: "no_delivery_path", detail } };
  }
  // Redis is down for one side or both; the processor's HTTP fallback carries the snapshots.
  return {
    ...step,
    via: "http",
    status: "warn",
    lastWorked,
    reason: { code: report ? "redis_down_http_fallback" : "redis_down", detail },
  };
}

function calendarSyncStep(input: PipelineInput, report: ProcessorReport | undefined): PipelineStep {
  const { calendarSync, now } = input;
  const step = {
    id: "calendar-sync",
    kind: "calendar-sync",
    lastWorked: calendarSync.lastSuccess?.toISOString() ?? null,
    affectsCalendar: true,
  } as const;
  const failure = calendarSync.lastFailure;
  if (failure && (!calendarSync.lastSuccess || failure.at > calendarSync.lastSuccess)) {
    return { ...step, status: "fail", reason: { code: "apply_failed", detail: failure.error } };
  }
  if (!calendarSync.lastSuccess && calendarSync.stateProblems.length) {
    return {
      ...step,
      status: "warn",
      reason: { code: "state_file_unreadable", detail: calendarSync.stateProblems.join("; ") },
    };
  }
  // The processor's newest snapshot (or, from an older processor, its last delivered one).
  const latest = report?.latest_snapshot
    ? { ...report.latest_snapshot, at: report.latest_snapshot.created_at }
    : report?.last_confirmed_delivery
      ? { ...report.last_confirmed_delivery, at: report.last_confirmed_delivery.delivered_at }
      : undefined;
  if (
    latest?.snapshot_hash &&
    calendarSync.snapshotHash &&
    latest.snapshot_hash !== calendarSync.snapshotHash &&
    latest.at &&
    now.getTime() - Date.parse(latest.at) > BEHIND_AFTER_MS
  ) {
    return {
      ...step,
      status: "warn",
      reason: {
        code: "behind_processor",
        detail: latest.sequence != null ? `#${latest.sequence}` : undefined,
      },
    };
  }
  if (!calendarSync.lastSuccess) return { ...step, status: "warn", reason: { code: "no_snapshot_yet" } };
  return { ...step, status: "pass" };
}

function targetStep(
  kind: "backend" | "notification",
  target: TargetStatus,
  affectsCalendar: boolean,
): PipelineStep {
  let reason: StepReason | undefined;
  if (target.status !== "pass") {
    reason = target.lastError
      ? { code: "reported", detail: target.lastError }
      : target.pending
        ? {
            code: kind === "backend" ? "backend_pending" : "notification_pending",
            detail: String(target.pending),
          }
        : { code: "reported" };
  }
  return {
    id: `${kind}:${target.name}`,
    kind,
    name: target.name,
    targetKind: target.kind ?? undefined,
    status: target.status,
    lastWorked: target.lastSuccess ?? null,
    affectsCalendar,
    ...(reason ? { reason } : {}),
  };
}

/** An issue a service reports (the processor's, read from its /redis-status, or calendar-sync's own). */
type StepIssue = { status: "warn" | "fail"; code: string; message: string };

/** Issues about the match list belong to the fetch, those about Redis carrying a snapshot to the delivery path. */
const ISSUE_STEPS: Record<string, "source" | "delivery"> = {
  empty_list_held: "source",
  demo_source_refused: "source",
  redis_refused_snapshot: "delivery",
  snapshot_too_large_for_redis: "delivery",
};

function issueStep(code: string): "source" | "processor" | "delivery" {
  return ISSUE_STEPS[code] ?? "processor";
}

/** A step is at least as bad as the issues the service reports about it, and shows their messages as it is told. */
function withIssues(step: PipelineStep, issues: readonly StepIssue[]): PipelineStep {
  if (!issues.length) return step;
  const worst = issues.some((issue) => issue.status === "fail") ? "fail" : "warn";
  const status = step.status === "fail" || worst === "fail" ? "fail" : "warn";
  const messages = issues.map((issue) => issue.message).join("; ");
  const reason: StepReason =
    step.status === "pass" || !step.reason
      ? { code: "reported", detail: messages }
      : { ...step.reason, detail: [step.reason.detail, messages].filter(Boolean).join("; ") };
  return { ...step, status, reason };
}

function latest(...times: Array<string | null | undefined>): string | null {
  let best: string | null = null;
  for (const time of times) {
    if (time && (!best || Date.parse(time) > Date.parse(best))) best = time;
  }
  return best;
}
