import { Counter, Gauge, type Registry } from "prom-client";
import type { BackendStatus } from "./push-backend.js";

/**
 * Prometheus series for every backend, labelled by backend name and kind, created once per
 * registry. The status is one-hot (`status="pass|warn|fail"`, 1 for the current one), so an alert
 * is `fogis_calendar_backend_status{status="fail"} == 1`.
 */
export class BackendMetrics {
  private readonly statusGauge: Gauge<"backend" | "kind" | "status">;
  private readonly pendingGauge: Gauge<"backend" | "kind">;
  private readonly lastSuccessGauge: Gauge<"backend" | "kind">;
  private readonly syncs: Counter<"backend" | "kind" | "outcome">;
  private readonly writes: Counter<"backend" | "kind" | "operation">;
  private readonly conflicts: Counter<"backend" | "kind">;
  private readonly requests: Counter<"backend" | "kind">;

  constructor(registry: Registry) {
    const registers = [registry];
    this.statusGauge = new Gauge({
      name: "fogis_calendar_backend_status",
      help: "Backend status, one-hot by status (pass, warn, fail)",
      labelNames: ["backend", "kind", "status"],
      registers,
    });
    this.pendingGauge = new Gauge({
      name: "fogis_calendar_backend_pending_changes",
      help: "Changes of the latest snapshot not yet written by the backend",
      labelNames: ["backend", "kind"],
      registers,
    });
    this.lastSuccessGauge = new Gauge({
      name: "fogis_calendar_backend_last_success_timestamp_seconds",
      help: "When the backend last finished a sync (Unix time)",
      labelNames: ["backend", "kind"],
      registers,
    });
    this.syncs = new Counter({
      name: "fogis_calendar_backend_syncs_total",
      help: "Backend sync passes, by outcome (ok, failed)",
      labelNames: ["backend", "kind", "outcome"],
      registers,
    });
    this.writes = new Counter({
      name: "fogis_calendar_backend_writes_total",
      help: "Items written by the backend, by operation (create, update, remove)",
      labelNames: ["backend", "kind", "operation"],
      registers,
    });
    this.conflicts = new Counter({
      name: "fogis_calendar_backend_conflicts_total",
      help: "Conditional writes refused (412) because the item had changed; re-read, merged and written",
      labelNames: ["backend", "kind"],
      registers,
    });
    this.requests = new Counter({
      name: "fogis_calendar_backend_requests_total",
      help: "HTTP requests the backend made",
      labelNames: ["backend", "kind"],
      registers,
    });
  }

  /** Sets the gauges from a status. */
  observe(status: BackendStatus): void {
    const labels = { backend: status.name, kind: status.kind };
    for (const value of ["pass", "warn", "fail"] as const) {
      this.statusGauge.set({ ...labels, status: value }, status.status === value ? 1 : 0);
    }
    this.pendingGauge.set(labels, status.pending);
    if (status.lastSuccess) this.lastSuccessGauge.set(labels, Date.parse(status.lastSuccess) / 1000);
  }

  synced(
    labels: { backend: string; kind: string },
    outcome: "ok" | "failed",
    counts: { created: number; updated: number; removed: number; conflicts: number; requests: number },
  ): void {
    this.syncs.inc({ ...labels, outcome });
    if (counts.created) this.writes.inc({ ...labels, operation: "create" }, counts.created);
    if (counts.updated) this.writes.inc({ ...labels, operation: "update" }, counts.updated);
    if (counts.removed) this.writes.inc({ ...labels, operation: "remove" }, counts.removed);
    if (counts.conflicts) this.conflicts.inc(labels, counts.conflicts);
    if (counts.requests) this.requests.inc(labels, counts.requests);
  }
}
