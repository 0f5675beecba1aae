export * from "./builders.js";
export * from "./changes.js";
export * from "./channels.js";
export * from "./codec.js";
export * from "./envelope.js";
export * from "./json-schema.js";
export * from "./match.js";
export * from "./time.js";
