import { assertBuilt } from "./service-process.js";

/** Once per run, before any test: the services under test are built from the current sources. */
export default function checkBuild(): void {
  assertBuilt("match-processor");
  assertBuilt("calendar-sync");
}
