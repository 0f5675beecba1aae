export * from "./dav-servers.js";
export * from "./fixtures.js";
export * from "./google-server.js";
export * from "./python-calendar.js";
export * from "./redis.js";
export * from "./sentinel.js";
