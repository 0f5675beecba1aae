import { readFileSync } from "node:fs";

/**
 * The Node and V8 flags both services run with, defined once, in the file `node-flags` at the root
 * of this package. Every way of starting a service reads it: the Dockerfile's CMD and the services'
 * `start` scripts (`$(cat …/node-flags)`), and through this function `pnpm start`, the bench and the
 * tests that run `dist/main.js`. V8 sizes its heap before any of our code runs, so the flags must be
 * on the command line (`v8.setFlagsFromString` at runtime comes too late).
 *
 * `--max-semi-space-size=1`: on Node 24, V8 grows the young generation with the machine's memory
 * (134 MB in a trial on this 24 GB host) and keeps it after a snapshot's peak. Capped at 1 MB,
 * `pnpm bench --only memory` measured RSS after a 1,000-match snapshot 174 -> 108 MB (processor)
 * and 165 -> 134 MB (calendar-sync). `--optimize-for-size` took ~5 MB more but made JSON.parse of
 * a snapshot about twice as slow, the baseline's included.
 */
export function serviceNodeFlags(): string[] {
  const text = readFileSync(new URL("../node-flags", import.meta.url), "utf8");
  return text.split(/\s+/).filter(Boolean);
}
