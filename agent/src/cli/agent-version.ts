import { createRequire } from "node:module";

/** The agent's version (package.json), sent to the hub at Register and in Hello. */
export const agentVersion: string = (
  createRequire(import.meta.url)("../../package.json") as { version: string }
).version;
