export * from "./config.js";
export * from "./files.js";
export * from "./health.js";
export * from "./http.js";
export * from "./limited-body.js";
export * from "./logger.js";
export * from "./metrics.js";
export * from "./redis.js";
