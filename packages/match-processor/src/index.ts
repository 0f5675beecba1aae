/**
 * match-processor's public face: the service factory (what main.ts, tests and the bench build),
 * its config, and the types and parts other packages use (the bench drives detection and delivery
 * directly; the reliability suite reads the delivery counters).
 */
export { detectChanges } from "./change-detector.js";
export { loadProcessorConfig, type ProcessorConfig } from "./config.js";
export type { CycleResult } from "./cycle-result.js";
export { SnapshotDelivery } from "./delivery.js";
export type { DeliveryCounters } from "./metrics.js";
export {
  createMatchProcessorService,
  type MatchProcessorService,
  type MatchProcessorServiceOptions,
} from "./service.js";
