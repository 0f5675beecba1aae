export * from "./fixtures.js";
export * from "./python-calendar.js";
export * from "./redis.js";
