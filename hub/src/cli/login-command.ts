import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { type Command, UsageError } from "./command.js";
import {
  connectFleet,
  contextFilePath,
  describeHubError,
  type FleetConnection,
  type HubTarget,
  hubAddress,
  noPositionals,
  normalizeHubUrl,
  saveContext,
} from "./hub-context.js";

const usage = `flotilla login --hub <https://host:port> [--token <token> | --token-file <file>] [--ca <ca.crt>] [--name <context>]

  Checks that the hub answers with that token, then saves hub, token and CA (its absolute path)
  as context <name> (default: the hub's host:port) and makes it current. The token and CA may also
  come from FLOTILLA_TOKEN and FLOTILLA_CA; prefer --token-file, as a token on the command line
  lands in shell history.
  Without --ca the system's trusted CAs must vouch for the hub.

  There is no --insecure-skip-tls-verify: the token would go to whoever answers. Pin the hub's
  own CA instead (\`flotilla hub serve\` prints its path; it is <data-dir>/ca.crt).`;

/** `flotilla login`: writes the context file (mode 0600) only after a successful call with the token. */
export const loginCommand: Command = {
  path: ["login"],
  summary: "Check a hub URL, API token and CA, and save them as the current context",
  usage,
  run: async (args, io) => {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        hub: { type: "string" },
        token: { type: "string" },
        "token-file": { type: "string" },
        ca: { type: "string" },
        name: { type: "string" },
        "insecure-skip-tls-verify": { type: "boolean" },
      },
    });
    if (values["insecure-skip-tls-verify"]) {
      throw new UsageError(
        "--insecure-skip-tls-verify is not offered: the token would go to whoever answers; pass the hub's CA certificate with --ca",
      );
    }
    noPositionals(positionals);
    if (!values.hub) throw new UsageError("--hub is required");
    if (values.token && values["token-file"]) throw new UsageError("pass --token or --token-file, not both");
    if (values.name === "") throw new UsageError("--name must not be empty");

    let url: string;
    try {
      url = normalizeHubUrl(values.hub, "--hub");
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    let token: { value: string; from: string } | undefined;
    if (values["token-file"]) {
      const path = resolve(values["token-file"]);
      try {
        token = { value: (await readFile(path, "utf8")).trim(), from: `--token-file ${path}` };
      } catch (error) {
        io.stderr(`flotilla: cannot read the token file ${path}: ${(error as Error).message}\n`);
        return 1;
      }
      if (!token.value) throw new UsageError(`the token file ${path} is empty`);
    } else if (values.token) token = { value: values.token, from: "--token" };
    else if (io.env.FLOTILLA_TOKEN) token = { value: io.env.FLOTILLA_TOKEN, from: "FLOTILLA_TOKEN" };
    else throw new UsageError("pass the API token with --token-file or --token (or set FLOTILLA_TOKEN)");

    const caFrom = values.ca
      ? { path: values.ca, from: "--ca" }
      : io.env.FLOTILLA_CA
        ? { path: io.env.FLOTILLA_CA, from: "FLOTILLA_CA" }
        : undefined;
    const ca = caFrom ? resolve(caFrom.path) : undefined;
    const target: HubTarget = {
      url,
      address: hubAddress(url),
      token: token.value,
      ...(ca ? { ca } : {}),
      from: { hub: "--hub", token: token.from, ...(caFrom ? { ca: caFrom.from } : {}) },
    };

    let fleet: FleetConnection | undefined;
    try {
      fleet = await connectFleet(target);
      await fleet.client.listClusters({ pageSize: 1 }, fleet.callOptions);
      const name = values.name ?? new URL(url).host;
      const path = contextFilePath(io.env);
      await saveContext(path, name, { hub: url, token: token.value, ...(ca ? { ca } : {}) });
      io.stdout(`Logged in to ${url}; context "${name}" saved in ${path} and made current.\n`);
      return 0;
    } catch (error) {
      io.stderr(`flotilla: ${describeHubError(error, target)}\n`);
      return 1;
    } finally {
      fleet?.close();
    }
  },
};
