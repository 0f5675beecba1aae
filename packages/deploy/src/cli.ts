#!/usr/bin/env node
import { connectDocker, runCli } from "./main.js";
import { progressFor } from "./progress.js";

process.exitCode = await runCli({
  argv: process.argv.slice(2),
  env: process.env,
  cwd: process.cwd(),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  progress: progressFor(process.stdout),
  connect: connectDocker,
});
