#!/usr/bin/env node
// `prebuild`: this package compiles against its workspace dependencies' dist/*.d.ts, so
// `pnpm --filter @fogis/match-processor build` in a fresh clone first builds those that are
// missing or older than their sources. Inside the root `pnpm build` (topological order) they are
// already fresh and this does nothing.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const packagesDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

const byName = new Map();
for (const entry of readdirSync(packagesDir, { withFileTypes: true })) {
  const manifest = join(packagesDir, entry.name, "package.json");
  if (entry.isDirectory() && existsSync(manifest)) {
    const pkg = JSON.parse(readFileSync(manifest, "utf8"));
    byName.set(pkg.name, { name: pkg.name, dir: join(packagesDir, entry.name), pkg });
  }
}

function workspaceDeps(pkg) {
  return Object.entries(pkg.dependencies ?? {})
    .filter(([, spec]) => String(spec).startsWith("workspace:"))
    .map(([name]) => byName.get(name))
    .filter(Boolean);
}

function newest(dir) {
  let time = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    time = Math.max(time, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return time;
}

function isStale({ dir }) {
  const built = join(dir, "dist", "index.d.ts");
  return !existsSync(built) || newest(join(dir, "src")) > statSync(built).mtimeMs;
}

// Dependencies first (depth-first), each once.
const order = [];
const seen = new Set();
function visit(node) {
  for (const dep of workspaceDeps(node.pkg)) {
    if (seen.has(dep.name)) continue;
    seen.add(dep.name);
    visit(dep);
    order.push(dep);
  }
}
visit({ pkg: JSON.parse(readFileSync(join(packagesDir, "match-processor", "package.json"), "utf8")) });

for (const dep of order.filter(isStale)) {
  console.log(`building ${dep.name} (its dist is missing or older than its sources)`);
  const result = spawnSync("pnpm", ["--filter", dep.name, "run", "build"], { stdio: "inherit" });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
