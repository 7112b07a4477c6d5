#!/usr/bin/env node
import { commands } from "./commands.js";
import { runCli } from "./run-cli.js";

const io = {
  stdout: (text: string) => process.stdout.write(text),
  stderr: (text: string) => process.stderr.write(text),
  env: process.env,
  isTty: Boolean(process.stdout.isTTY),
};

try {
  process.exitCode = await runCli("flotilla", commands, process.argv.slice(2), io);
} catch (error) {
  process.stderr.write(`flotilla: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
