import { type PhaseNumber, phase, phaseLabel, SERVICES, type ServiceName } from "./phases.js";
import type { CurrentPhase } from "./rollout.js";
import { pubsubSetting, type RedisStatusReport, type Stack } from "./stack.js";

/** `status`: the current phase and, per service, container state, health and Redis status. */

export interface ServiceStatus {
  service: ServiceName;
  container: string | null;
  state: string;
  health: string;
  pubsub: boolean | null;
  /** calendar-sync / match-processor: the /redis-status answer; redis: PING and appendonly. */
  redis_status: RedisStatusReport | { ping: string; appendonly: string } | null;
  summary: string;
}

export interface StatusReport {
  project: string;
  compose_files: string[];
  phase: PhaseNumber | null;
  phase_name: string | null;
  known: boolean;
  reason: string;
  recorded: { phase: number; at: string; location: string } | null;
  services: ServiceStatus[];
}

export async function collectStatus(
  stack: Stack,
  current: CurrentPhase,
  target: { project: string; composeFiles: string[]; stateLocation: string },
): Promise<StatusReport> {
  const services = await Promise.all(
    SERVICES.map(async (service): Promise<ServiceStatus> => {
      const container = current.observation.containers[service];
      const base = {
        service,
        container: container?.name ?? null,
        state: container?.state ?? "absent",
        // A stopped container keeps its last health verdict; it means nothing then.
        health: container?.state === "running" ? container.health : "-",
        pubsub: container && service !== "redis" ? (pubsubSetting(container.env) ?? null) : null,
      };
      if (container?.state !== "running") return { ...base, redis_status: null, summary: "-" };
      try {
        if (service === "redis") {
          const ping = (await stack.redisCli(["PING"])).stdout.trim();
          const appendonly =
            (await stack.redisCli(["--raw", "CONFIG", "GET", "appendonly"])).stdout.trim().split("\n")[1] ??
            "?";
          return {
            ...base,
            redis_status: { ping, appendonly },
            summary: `${ping || "no answer"}, appendonly ${appendonly}`,
          };
        }
        const report = await stack.redisStatus(service);
        const rs = report.redis_status ?? {};
        const parts = [`${report.status}`, `path ${report.delivery_path}`];
        if (rs.enabled) {
          parts.push(rs.connected ? "connected" : "NOT connected");
          if (service === "calendar-sync") parts.push(rs.subscribed ? "subscribed" : "NOT subscribed");
        } else {
          parts.push("Redis disabled");
        }
        return { ...base, redis_status: report, summary: parts.join(", ") };
      } catch (error) {
        return { ...base, redis_status: null, summary: `error: ${(error as Error).message}` };
      }
    }),
  );
  return {
    project: target.project,
    compose_files: target.composeFiles,
    phase: current.phase,
    phase_name: current.phase === null ? null : phase(current.phase).name,
    known: current.known,
    reason: current.reason,
    recorded: current.recorded
      ? { phase: current.recorded.phase, at: current.recorded.updated_at, location: target.stateLocation }
      : null,
    services,
  };
}

export function renderStatus(status: StatusReport): string {
  const phaseLine = status.known
    ? `${phaseLabel(status.phase)}${status.phase === null ? "" : `: ${phase(status.phase).summary}`} (${status.reason})`
    : `unknown: ${status.reason}`;
  const recorded = status.recorded
    ? `${status.recorded.phase} ${phase(status.recorded.phase as PhaseNumber).name} at ${status.recorded.at} (${status.recorded.location})`
    : "nothing recorded yet";
  const rows = [
    ["SERVICE", "CONTAINER", "STATE", "HEALTH", "PUB/SUB", "REDIS STATUS"],
    ...status.services.map((s) => [
      s.service,
      s.container ?? "-",
      s.state,
      s.health,
      s.pubsub === null ? "-" : s.pubsub ? "on" : "off",
      s.summary,
    ]),
  ];
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  const table = rows.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join("  "),
  );
  return [
    `Project   ${status.project} (${status.compose_files.join(", ")})`,
    `Phase     ${phaseLine}`,
    `Recorded  ${recorded}`,
    "",
    ...table,
    "",
  ].join("\n");
}
