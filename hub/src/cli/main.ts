#!/usr/bin/env node
import { hideIpServerNameWarning } from "@flotilla/proto/quiet-warnings";
import { readProcessEnv } from "../config.js";
import { commands } from "./commands.js";
import { describeError, runCli } from "./run-cli.js";

hideIpServerNameWarning();

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
