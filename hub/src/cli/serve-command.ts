import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { loadHubConfig } from "../server/hub-config.js";
import { createLogger } from "../server/log.js";
import { startHub } from "../server/start-hub.js";
import type { Command } from "./command.js";
import { noPositionals } from "./hub-context.js";

const packageJson = createRequire(import.meta.url)("../../package.json") as { version: string };

const usage =
  "flotilla hub serve [--config <file>] [--data-dir <dir>] [--listen-http <host:port>] [--listen-grpc <host:port>] [--public-url <https://host:port>]";

/**
 * `flotilla hub serve`: runs the hub until SIGINT or SIGTERM. The first start prints the admin
 * token once (it is also in <data-dir>/admin.token) and how to log in.
 */
export const serveCommand: Command = {
  path: ["hub", "serve"],
  summary: "Run the hub (embedded store, bus and CA when unconfigured)",
  usage,
  run: async (args, io) => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        config: { type: "string" },
        "data-dir": { type: "string" },
        "listen-http": { type: "string" },
        "listen-grpc": { type: "string" },
        "public-url": { type: "string" },
      },
    });
    noPositionals(positionals);
    const config = loadHubConfig(
      {
        ...(values.config ? { config: values.config } : {}),
        ...(values["data-dir"] ? { dataDir: values["data-dir"] } : {}),
        ...(values["listen-http"] ? { listenHttp: values["listen-http"] } : {}),
        ...(values["listen-grpc"] ? { listenGrpc: values["listen-grpc"] } : {}),
        ...(values["public-url"] ? { publicUrl: values["public-url"] } : {}),
      },
      io.env,
    );
    const log = createLogger({ level: config.logLevel, write: io.stderr });
    const hub = await startHub(config, {
      log,
      hubVersion: packageJson.version,
      progress: (line) => io.stderr(`hub: ${line}\n`),
    });
    io.stdout(`Flotilla hub ${packageJson.version} serving at ${hub.url}\n`);
    io.stdout(`CA certificate: ${hub.caCertPath}\n`);
    if (hub.createdAdminToken) {
      io.stdout(`Admin API token (shown once; also in ${hub.adminTokenPath}):\n  ${hub.createdAdminToken}\n`);
    } else io.stdout(`Admin API token: in ${hub.adminTokenPath} (written at the first start)\n`);
    io.stdout(
      `Log in: flotilla login --hub ${hub.url} --ca ${hub.caCertPath} --token-file ${hub.adminTokenPath}\n`,
    );
    await new Promise<void>((resolve) => {
      for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolve());
    });
    io.stderr("hub: shutting down\n");
    await hub.close();
    return 0;
  },
};
