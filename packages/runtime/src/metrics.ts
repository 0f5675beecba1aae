import type { RequestHandler } from "express";
import { collectDefaultMetrics, Registry } from "prom-client";

/** A registry per service instance (not the global one), so several apps can live in one test process. */
export function createMetricsRegistry(service: string, { processMetrics = true } = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  if (processMetrics) collectDefaultMetrics({ register: registry, prefix: "fogis_" });
  return registry;
}

/** `GET /metrics` in the Prometheus text format. */
export function metricsHandler(registry: Registry): RequestHandler {
  return async (_req, res) => {
    res.setHeader("Content-Type", registry.contentType);
    res.send(await registry.metrics());
  };
}
