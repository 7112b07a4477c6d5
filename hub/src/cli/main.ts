#!/usr/bin/env node
import { readProcessEnv } from "../config.js";
import { commands } from "./commands.js";
import { runCli } from "./run-cli.js";

const io = {
  stdout: (text: string) => process.stdout.write(text),
  stderr: (text: string) => process.stderr.write(text),
  env: readProcessEnv(),
  isTty: Boolean(process.stdout.isTTY),
};

try {
  process.exitCode = await runCli("flotilla", commands, process.argv.slice(2), io);
} catch (error) {
  process.stderr.write(`flotilla: ${describeError(error)}\n`);
  process.exitCode = 1;
}

/** The message and its causes, outermost first: "cannot read X: repo Y: connection refused". */
function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e !== undefined && parts.length < 5; e = (e as { cause?: unknown }).cause) {
    parts.push(e instanceof Error ? e.message : String(e));
    if (!(e instanceof Error)) break;
  }
  return parts.join(": ");
}
