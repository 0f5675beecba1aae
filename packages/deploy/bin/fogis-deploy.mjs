#!/usr/bin/env node
// The entry point of `pnpm deploy` / `pnpm run deploy`: runs the built CLI, or says how to build it.
import { existsSync } from "node:fs";

const cli = new URL("../dist/cli.js", import.meta.url);
const notBuilt = (detail) => {
  process.stderr.write(`fogis-deploy is not built (${detail}): run pnpm build first\n`);
  process.exit(1);
};
if (!existsSync(cli)) notBuilt("packages/deploy/dist/cli.js is missing");
try {
  await import(cli.href);
} catch (error) {
  // A workspace package it imports (e.g. @fogis/message-schema) has no dist/ yet.
  if (error?.code === "ERR_MODULE_NOT_FOUND") notBuilt(error.message.split("\n")[0]);
  throw error;
}
