export { type Figure, figure } from "./figures.js";
export { FULL, type Profile, SMOKE } from "./profile.js";
export { type RunOptions, runBench } from "./run.js";
