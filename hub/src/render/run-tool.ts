import { spawn } from "node:child_process";
import { RenderProblemError } from "./render-problem.js";

/** One external tool invocation. Arguments are an array: no shell ever sees them. */
export type ToolRun = {
  /** Names the tool in problems, e.g. "kustomize build". */
  label: string;
  executable: string;
  args: string[];
  cwd: string;
  /** The whole environment of the child; nothing is inherited from the hub process. */
  env: Record<string, string>;
  timeoutMs: number;
  maxOutputBytes: number;
  /** Applied to stderr before it goes into a problem message (paths, credentials). */
  redact?: (text: string) => string;
};

const MAX_STDERR_BYTES = 16 * 1024;
const MAX_MESSAGE_CHARS = 4000;

/**
 * Runs a tool in its own process group and returns its stdout. The whole group is killed on
 * timeout, on too much output, and after the tool exits (so a stray child cannot linger).
 * Failures throw `RenderProblemError`: `limit` for the timeout and the output cap, `render`
 * for a non-zero exit (with the trimmed, redacted stderr) or a tool that cannot be started.
 */
export function runTool(run: ToolRun): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(run.executable, run.args, {
      cwd: run.cwd,
      env: run.env,
      detached: true,
      shell: false,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrBytes = 0;
    let failure: RenderProblemError | undefined;

    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // The group is already gone.
      }
    };
    const fail = (problem: RenderProblemError) => {
      failure ??= problem;
      killGroup();
    };
    const timer = setTimeout(() => {
      fail(
        new RenderProblemError("limit", `${run.label}: did not finish within ${run.timeoutMs} ms`, {
          cacheable: false,
        }),
      );
    }, run.timeoutMs);

    child.stdout.on("data", (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes > run.maxOutputBytes) {
        fail(new RenderProblemError("limit", `${run.label}: output exceeds ${run.maxOutputBytes} bytes`));
        return;
      }
      stdout.push(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      if (stderrBytes < MAX_STDERR_BYTES) stderr.push(chunk.subarray(0, MAX_STDERR_BYTES - stderrBytes));
      stderrBytes += chunk.length;
    });
    child.on("exit", killGroup);
    child.on("error", (cause) => {
      clearTimeout(timer);
      reject(
        new RenderProblemError("render", `${run.label}: cannot run ${run.executable}: ${cause.message}`, {
          cause,
          cacheable: false,
        }),
      );
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (failure) return reject(failure);
      if (code === 0) return resolve(Buffer.concat(stdout).toString("utf8"));
      const status = code === null ? `killed by ${signal}` : `exit ${code}`;
      const text = describeStderr(Buffer.concat(stderr).toString("utf8"), run.redact);
      reject(new RenderProblemError("render", `${run.label} failed (${status})${text ? `: ${text}` : ""}`));
    });
  });
}

function describeStderr(text: string, redact: ((text: string) => string) | undefined): string {
  let clean = redactCredentials(redact ? redact(text) : text).trim();
  if (clean.length > MAX_MESSAGE_CHARS) clean = `${clean.slice(0, MAX_MESSAGE_CHARS)}...`;
  return clean;
}

/** Removes user info from URLs (`https://user:token@host` -> `https://***@host`). */
export function redactCredentials(text: string): string {
  return text.replace(/([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^/\s@'"]+@/g, "$1***@");
}
