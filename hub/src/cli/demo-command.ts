/**
 * `flotilla demo`: checks its flags, then hands over to the demo in the test environment
 * (e2e/src/demo/run-demo.ts), which builds and starts local clusters. The hub package does not
 * depend on e2e: the module is found by its path in a source checkout and imported with a
 * computed specifier, so the compiler never follows it.
 */
import { access } from "node:fs/promises";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parseDuration } from "@flotilla/proto/duration";
import { type CliIo, type Command, UsageError } from "./command.js";
import { noPositionals } from "./hub-context.js";
import { readOutput } from "./render-command.js";

/** What `flotilla demo` asks the demo runner for, its flags checked. */
export type DemoRunOptions = {
  /** Exit once the fleet converged (0) or the timeout passed (1), stopping everything. */
  once: boolean;
  /** `json` only with `once`: the document `flotilla status -o json` prints. */
  output: "table" | "json";
  /** How long the fleet may take to converge once everything is started (builds not counted). */
  timeoutMs: number;
  /** The hub's port on 127.0.0.1; undefined: 8443 when free, else a free port. */
  port?: number;
  /** Absolute path of a data directory to keep; undefined: a temporary one, removed at exit. */
  dataDir?: string;
  /** After converging, roll web v2 to the prod clusters, wait, and print the fleet again. */
  change: boolean;
};

/** The demo runner's entry point: returns the exit code. */
export type DemoRunner = (options: DemoRunOptions, io: CliIo) => Promise<number>;

export const DEMO_NEEDS_CHECKOUT =
  "flotilla demo needs a source checkout of Flotilla (it builds and starts local test clusters): run `npm run demo` from the repository";

const DEFAULT_TIMEOUT = "15m";

const usage = `flotilla demo [--once [-o table|json]] [--timeout 15m] [--port <n>] [--data-dir <dir>] [--change]

  Starts a hub, three local clusters (prod-1 and prod-2 labelled env=prod, staging-1 env=staging),
  an agent per cluster and a sample fleet repository served over Git; waits until every app is
  Synced and Healthy, prints the fleet, the dashboard URL and how to use the CLI against it, and
  runs until Ctrl-C. Needs a source checkout (it builds test binaries from Go modules when missing).

  --once         exit once the fleet converged (0) or after --timeout (1, with what is missing),
                 stopping everything it started
  -o json        with --once: print what \`flotilla status -o json\` prints
  --timeout      how long the fleet may take to converge once started (default ${DEFAULT_TIMEOUT})
  --port         the hub's port on 127.0.0.1 (default 8443 when free, else a free one)
  --data-dir     keep the hub's data, agent state and logs here (must be empty; default: a
                 temporary directory removed at exit)
  --change       after converging, roll web v2 to the prod clusters and print the fleet again`;

/** The demo module in a source checkout: run from source (.ts) or compiled (dist/.js). */
export function demoModuleUrl(selfUrl: string = import.meta.url): URL {
  return selfUrl.endsWith(".ts")
    ? new URL("../../../e2e/src/demo/run-demo.ts", selfUrl)
    : new URL("../../../e2e/dist/demo/run-demo.js", selfUrl);
}

/**
 * Imports the demo runner from `moduleUrl`; undefined when the file is not there (an installed
 * CLI without the repository). Throws when the file exists but does not load or export runDemo.
 */
export async function loadDemoRunner(moduleUrl: URL = demoModuleUrl()): Promise<DemoRunner | undefined> {
  try {
    await access(fileURLToPath(moduleUrl));
  } catch {
    return undefined;
  }
  // A computed specifier: the compiler must not follow the hub into the test environment.
  const specifier = moduleUrl.href;
  const loaded = (await import(specifier)) as { runDemo?: unknown };
  if (typeof loaded.runDemo !== "function")
    throw new Error(`${fileURLToPath(moduleUrl)} does not export runDemo`);
  return loaded.runDemo as DemoRunner;
}

/** Reads the flags; throws UsageError naming the flag at fault. */
export function readDemoOptions(args: string[], cwd: string): DemoRunOptions {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      once: { type: "boolean", default: false },
      output: { type: "string", short: "o" },
      timeout: { type: "string", default: DEFAULT_TIMEOUT },
      port: { type: "string" },
      "data-dir": { type: "string" },
      change: { type: "boolean", default: false },
    },
  });
  noPositionals(positionals);
  const once = values.once ?? false;
  const output = readOutput(values.output, ["table", "json"]) as DemoRunOptions["output"];
  if (output === "json" && !once)
    throw new UsageError(
      "-o json needs --once: the interactive demo prints a table and keeps running until Ctrl-C",
    );
  let timeoutMs: number;
  try {
    timeoutMs = parseDuration(values.timeout ?? DEFAULT_TIMEOUT, "--timeout");
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (timeoutMs <= 0) throw new UsageError(`--timeout "${values.timeout}" must be longer than 0`);
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port > 65_535)
      throw new UsageError(`--port "${values.port}" must be a port number (0-65535; 0 picks a free one)`);
  }
  const dataDir = values["data-dir"];
  if (dataDir === "") throw new UsageError("--data-dir is empty");
  return {
    once,
    output,
    timeoutMs,
    ...(port === undefined ? {} : { port }),
    ...(dataDir === undefined ? {} : { dataDir: resolve(cwd, dataDir) }),
    change: values.change ?? false,
  };
}

/** `flotilla demo`, loading the runner with `load` (tests pass a fake). */
export function createDemoCommand(
  load: () => Promise<DemoRunner | undefined> = () => loadDemoRunner(),
  cwd: () => string = () => process.cwd(),
): Command {
  return {
    path: ["demo"],
    summary: "Start a hub, three local clusters, their agents and a sample fleet repository",
    usage,
    run: async (args, io) => {
      const options = readDemoOptions(args, cwd());
      // Loading the test environment's sources takes a few seconds: say something first.
      io.stderr("demo: loading the test environment\n");
      const runDemo = await load();
      if (!runDemo) {
        io.stderr(`flotilla demo: ${DEMO_NEEDS_CHECKOUT}\n`);
        return 1;
      }
      return runDemo(options, io);
    },
  };
}

export const demoCommand: Command = createDemoCommand();
