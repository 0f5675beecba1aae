export * from "./fixtures.js";
export * from "./redis.js";
