#!/usr/bin/env node
// Copies the generated dashboard files (hub/src/dashboard/assets) next to the compiled hub
// (hub/dist/dashboard/assets), where serve-dashboard.js looks for them. Part of `pnpm build`.
import { cp } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const hubDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const from = join(hubDir, "src", "dashboard", "assets");
const to = join(hubDir, "dist", "dashboard", "assets");
try {
  await cp(from, to, { recursive: true, force: true });
} catch (error) {
  console.error(`copy-dashboard-assets: cannot copy ${from} to ${to}: ${error.message}`);
  process.exit(1);
}
