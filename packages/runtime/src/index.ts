export * from "./config.js";
export * from "./files.js";
export * from "./health.js";
export * from "./http.js";
export * from "./logger.js";
export * from "./metrics.js";
export * from "./node-flags.js";
export * from "./redis.js";
