// The images of deploy/docker and the compose file of deploy/compose, without a Docker engine:
// hadolint (with its built-in ShellCheck) on both Dockerfiles; the facts the charts and tests rely
// on (Node LTS base, non-root user, entrypoints, the pinned kustomize and helm); the build stage
// of each Dockerfile replayed on the files its COPY lines name; and the result run the way the
// image and the compose file run it: the hub on PostgreSQL and NATS with the compose file's
// settings and healthcheck, and the agent joining it from a real cluster.
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chmod, cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import pg from "pg";
import { parse } from "yaml";
import { makeTempDir, waitFor } from "./harness/agent.js";
import { useClusters } from "./harness/cluster.js";
import { ensureHadolint, HADOLINT } from "./harness/hadolint.js";
import { freePort } from "./harness/hub.js";
import { useNats } from "./harness/nats.js";
import { usePostgres } from "./harness/postgres.js";
import { ensureTool, REPO_ROOT, TOOLS } from "./harness/tools.js";

const run = promisify(execFile);
const dockerDir = join(REPO_ROOT, "deploy", "docker");
const composePath = join(REPO_ROOT, "deploy", "compose", "compose.yaml");
const images = ["hub", "agent"] as const;
type Image = (typeof images)[number];

/** The Node binary of the second unit-test run (the image's Node major), else this one. */
const node24 = join(REPO_ROOT, ".cache", "node24", "node_modules", "node", "bin", "node");

type Instruction = { keyword: string; args: string; line: number };
type Stage = { from: string; name?: string; instructions: Instruction[] };

/** Splits a Dockerfile into stages of instructions, continuation lines joined, comments dropped. */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    let current = lines[i]?.trim() ?? "";
    if (current === "" || current.startsWith("#")) continue;
    while (current.endsWith("\\") && i + 1 < lines.length) {
      current = `${current.slice(0, -1).trimEnd()} ${(lines[++i] ?? "").trim()}`;
    }
    const [keyword = "", ...rest] = current.split(/\s+/);
    const instruction = { keyword: keyword.toUpperCase(), args: rest.join(" "), line };
    if (instruction.keyword === "FROM") {
      const [from = "", as, name] = rest;
      stages.push({ from, ...(as?.toUpperCase() === "AS" && name ? { name } : {}), instructions: [] });
    } else if (stages.length === 0 && instruction.keyword === "ARG") {
      const [key = "", value = ""] = instruction.args.split("=");
      args.set(key, value);
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { args, stages };
}

async function readDockerfile(image: Image) {
  return parseDockerfile(await readFile(join(dockerDir, `${image}.Dockerfile`), "utf8"));
}

function lastOf(stage: Stage, keyword: string): Instruction | undefined {
  return stage.instructions.filter((i) => i.keyword === keyword).at(-1);
}

function argDefault(stage: Stage, name: string): string | undefined {
  const arg = stage.instructions.find((i) => i.keyword === "ARG" && i.args.startsWith(`${name}=`));
  return arg?.args.slice(name.length + 1);
}

/** `.dockerignore` patterns as regular expressions (`**`, `*`, literal names). */
async function readDockerignore(): Promise<RegExp[]> {
  const text = await readFile(join(REPO_ROOT, ".dockerignore"), "utf8");
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((pattern) => {
      const body = pattern
        .split("/")
        .map((part) =>
          part === "**"
            ? "(?:.*/)?"
            : `${part.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}/`,
        )
        .join("")
        .replace(/\/$/, "");
      return new RegExp(`^${body}(?:/.*)?$`);
    });
}

/** The `COPY src... dest` of a build stage (not `--from=`), as [sources, destination]. */
function copies(stage: Stage): { sources: string[]; dest: string }[] {
  return stage.instructions
    .filter((i) => i.keyword === "COPY" && !i.args.startsWith("--from="))
    .map((i) => {
      const words = i.args.split(/\s+/);
      return { sources: words.slice(0, -1), dest: words.at(-1) ?? "" };
    });
}

function runShell(
  command: string,
  options: { cwd: string; env: Record<string, string | undefined>; timeoutMs: number },
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn("sh", ["-c", command], {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, output });
    });
  });
}

/**
 * Replays the build stage of `image`'s Dockerfile without Docker: the files its COPY lines name
 * (minus .dockerignore) go into a fresh context folder standing for WORKDIR, and its RUN lines
 * run there with its ENV, `/out` standing for `out`. `corepack enable` (which puts a pnpm shim on
 * the image's PATH) is replaced by such a shim in a folder of our own.
 */
async function replayBuildStage(image: Image, work: string, out: string): Promise<string> {
  const { stages } = await readDockerfile(image);
  const stage = stages.find((s) => s.name === "build");
  assert.ok(stage, `${image}.Dockerfile has no build stage`);
  const ignored = await readDockerignore();
  const context = join(work, `${image}-context`);
  const shims = join(work, `${image}-shims`);
  await mkdir(context, { recursive: true });
  await mkdir(shims, { recursive: true });
  const { stdout: tracked } = await run("git", ["ls-files", "--cached", "--others", "--exclude-standard"], {
    cwd: REPO_ROOT,
    maxBuffer: 64 * 1024 * 1024,
  });
  const files = tracked.split("\n").filter((f) => f && !ignored.some((re) => re.test(f)));
  for (const { sources, dest } of copies(stage)) {
    for (const source of sources) {
      const matches = files.filter((f) => f === source || f.startsWith(`${source}/`));
      assert.ok(matches.length > 0, `${image}.Dockerfile: COPY ${source}: no such file in the build context`);
      for (const file of matches) {
        const target = dest.endsWith("/")
          ? join(
              context,
              dest,
              file === source ? (file.split("/").at(-1) ?? file) : file.slice(dirname(source).length),
            )
          : join(context, dest === "." ? file : dest, file === source ? "" : file.slice(source.length));
        await mkdir(dirname(target), { recursive: true });
        await cp(join(REPO_ROOT, file), target);
      }
    }
  }
  await writeFile(join(shims, "pnpm"), '#!/bin/sh\nexec corepack pnpm "$@"\n');
  await chmod(join(shims, "pnpm"), 0o755);
  const env: Record<string, string | undefined> = {
    ...process.env,
    PATH: `${shims}:${process.env.PATH}`,
    COREPACK_INTEGRITY_KEYS: "0",
  };
  let log = "";
  for (const instruction of stage.instructions) {
    if (instruction.keyword === "ENV") {
      for (const pair of instruction.args.split(/\s+/)) {
        const [key = "", value = ""] = pair.split("=");
        env[key] = value;
      }
    }
    if (instruction.keyword !== "RUN") continue;
    const command = instruction.args.replace(/^corepack enable pnpm && /, "").replaceAll(" /out", ` ${out}`);
    const result = await runShell(command, { cwd: context, env, timeoutMs: 600_000 });
    log += `$ ${command}\n${result.output}`;
    assert.equal(
      result.code,
      0,
      `${image}.Dockerfile line ${instruction.line}: RUN ${command}\n${result.output.slice(-4000)}`,
    );
  }
  return log;
}

type Running = { child: ChildProcess; output(): string; stop(): Promise<void> };

function startBundle(main: string, args: string[], env: Record<string, string>): Running {
  const nodeBinary = env.NODE_BINARY ?? process.execPath;
  const child = spawn(nodeBinary, [main, ...args], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    text += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    text += chunk.toString();
  });
  return {
    child,
    output: () => text,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function httpsGet(url: string, ca?: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, ca ? { ca, servername: "localhost" } : { rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("deploy images (deploy/docker) and compose (deploy/compose)", () => {
  it(`hadolint ${HADOLINT.version} finds nothing in either Dockerfile, and does flag a bad one`, async () => {
    const hadolint = await ensureHadolint();
    const lint = async (files: string[]) => {
      const result = await run(hadolint, ["--format", "json", "--failure-threshold", "style", ...files]).then(
        (r) => ({ code: 0, stdout: r.stdout }),
        (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
      );
      return { code: result.code, findings: JSON.parse(result.stdout) as { code: string; line: number }[] };
    };
    const ours = await lint(images.map((image) => join(dockerDir, `${image}.Dockerfile`)));
    assert.deepEqual(ours.findings, []);
    assert.equal(ours.code, 0);

    const work = await makeTempDir("flotilla-hadolint-");
    try {
      const bad = join(work.path, "Dockerfile");
      await writeFile(bad, "FROM node:latest\nRUN cd /src && npm install $PKG\nUSER root\n");
      const flagged = await lint([bad]);
      assert.equal(flagged.code, 1);
      const codes = flagged.findings.map((f) => f.code).sort();
      for (const code of ["DL3002", "DL3003", "DL3007", "SC2086"])
        assert.ok(codes.includes(code), codes.join(" "));
    } finally {
      await work.remove();
    }
  });

  it("both images: multi-stage on the Node LTS the tests run, non-root 10001, entrypoints the charts call", async () => {
    const nodeMajor = (await run(node24, ["--version"]).catch(() => ({ stdout: process.version }))).stdout
      .trim()
      .replace(/^v(\d+)\..*$/, "$1");
    const charts = {
      hub: await readFile(join(REPO_ROOT, "deploy", "charts", "hub", "templates", "workload.yaml"), "utf8"),
      agent: await readFile(
        join(REPO_ROOT, "deploy", "charts", "agent", "templates", "deployment.yaml"),
        "utf8",
      ),
    };
    for (const image of images) {
      const { args, stages } = await readDockerfile(image);
      const nodeImage = args.get("NODE_IMAGE") ?? "";
      const match = /^node:(\d+)\.\d+\.\d+-(\w+)-slim$/.exec(nodeImage);
      assert.ok(match, `${image}: NODE_IMAGE ${nodeImage} is not a pinned node:<x.y.z>-<debian>-slim`);
      assert.equal(match[1], nodeMajor, `${image}: Node ${match[1]} in the image, ${nodeMajor} in the tests`);
      assert.equal(Number(match[1]) % 2, 0, "Node LTS lines are even");
      assert.ok(stages.length >= 2, `${image}: not multi-stage`);
      const final = stages.at(-1) as Stage;
      assert.equal(final.from, `$${"{"}NODE_IMAGE}`);
      assert.equal(final.name, undefined);
      assert.equal(lastOf(final, "USER")?.args, "10001:10001");
      const entrypoint = JSON.parse(lastOf(final, "ENTRYPOINT")?.args ?? "[]") as string[];
      const binary = image === "hub" ? "flotilla" : "flotilla-agent";
      assert.deepEqual(entrypoint, [binary]);
      assert.match(charts[image], new RegExp(`command: \\[${binary}\\]`));
      assert.equal(lastOf(final, "EXPOSE")?.args, "8443");
      assert.match(charts[image], /containerPort: 8443/);
      // The final stage carries only what was built: no package manager run, no sources copied.
      assert.deepEqual(
        final.instructions.filter((i) => i.keyword === "COPY" && !i.args.startsWith("--from=")),
        [],
      );
    }
    const hub = await readDockerfile("hub");
    const tools = hub.stages.find((s) => s.name === "tools") as Stage;
    assert.equal(argDefault(tools, "KUSTOMIZE_VERSION"), TOOLS.kustomize.version);
    assert.equal(argDefault(tools, "HELM_VERSION"), TOOLS.helm.version);
    const install = tools.instructions.find((i) => i.keyword === "RUN")?.args ?? "";
    assert.ok(install.includes(`${TOOLS.kustomize.goPackage}@\${KUSTOMIZE_VERSION}`), install);
    assert.ok(install.includes(`${TOOLS.helm.goPackage}@\${HELM_VERSION}`), install);
    const final = hub.stages.at(-1) as Stage;
    assert.ok(
      final.instructions.some(
        (i) => i.keyword === "COPY" && i.args === "--from=tools /out/kustomize /out/helm /usr/local/bin/",
      ),
    );
  });

  it("the compose file: hub, PostgreSQL and NATS; only the hub is published, on loopback, locked down", async () => {
    const compose = parse(await readFile(composePath, "utf8")) as {
      services: Record<string, Record<string, unknown>>;
    };
    assert.deepEqual(Object.keys(compose.services).sort(), ["hub", "nats", "postgres"]);
    const { hub, postgres, nats } = compose.services as Record<string, Record<string, unknown>>;
    assert.deepEqual(hub?.build, { context: "../..", dockerfile: "deploy/docker/hub.Dockerfile" });
    assert.deepEqual(hub?.ports, ["127.0.0.1:8443:8443"]);
    assert.equal(hub?.read_only, true);
    assert.equal(hub?.user, "10001:10001");
    assert.deepEqual(hub?.cap_drop, ["ALL"]);
    assert.deepEqual(hub?.security_opt, ["no-new-privileges:true"]);
    assert.equal(postgres?.ports, undefined);
    assert.equal(nats?.ports, undefined);
    // No password is written down: compose refuses to start without one.
    const env = hub?.environment as Record<string, string>;
    assert.match(
      env.DATABASE_URL ?? "",
      /^postgres:\/\/flotilla:\$\{POSTGRES_PASSWORD:\?[^}]+\}@postgres:5432\/flotilla$/,
    );
    assert.equal(env.NATS_URL, "nats://nats:4222");
    // The NATS image is the nats-server version the tests run.
    assert.equal(nats?.image, `nats:${TOOLS["nats-server"].version.slice(1)}-alpine`);
    assert.match(String(postgres?.image), /^postgres:\d+-\w+$/);
  });

  describe("the images' contents, run as the image and the compose file run them", () => {
    const postgres = usePostgres();
    const nats = useNats();
    const clusters = useClusters(1);
    let work: { path: string; remove(): Promise<void> };
    const bundles = { hub: "", agent: "" };
    const running: Running[] = [];

    before(async () => {
      work = await makeTempDir("flotilla-images-");
    });
    after(async () => {
      for (const process of running) await process.stop();
      await work?.remove();
    });

    for (const image of images) {
      it(`replays the ${image} image's build stage on the files it copies`, async (t) => {
        bundles[image] = join(work.path, `${image}-out`);
        const log = await replayBuildStage(image, work.path, bundles[image]);
        assert.match(log, new RegExp(`bundle: wrote ${bundles[image]}`));
        const { stdout } = await run("du", ["-sk", bundles[image]]);
        const kib = Number(stdout.split("\t")[0]);
        t.diagnostic(`${image} bundle: ${Math.round(kib / 1024)} MiB`);
        // Sources and type declarations stay out of the image.
        const { stdout: leftovers } = await run("find", [
          bundles[image],
          "-path",
          "*/@flotilla/*",
          "-name",
          "*.ts",
        ]);
        assert.equal(leftovers.trim(), "");
        assert.ok(kib < 150 * 1024, `${image} bundle is ${kib} KiB`);
      });
    }

    it("the hub bundle serves with the compose file's settings on real PostgreSQL and NATS; its healthcheck passes", async () => {
      assert.ok(bundles.hub && bundles.agent, "the build stages did not run");
      const compose = parse(await readFile(composePath, "utf8")) as {
        services: { hub: { environment: Record<string, string>; healthcheck: { test: string[] } } };
      };
      const hubDockerfile = await readDockerfile("hub");
      const imageEnv = Object.fromEntries(
        (lastOf(hubDockerfile.stages.at(-1) as Stage, "ENV")?.args ?? "")
          .split(/\s+/)
          .map((pair) => pair.split("=")),
      ) as Record<string, string>;
      const port = await freePort();
      const dataDir = join(work.path, "var-lib-flotilla", "hub");
      const cacheDir = join(work.path, "var-cache-flotilla");
      const home = join(work.path, "tmp");
      await mkdir(home, { recursive: true });
      const composeEnv = compose.services.hub.environment;
      const tools = join(work.path, "usr-local-bin");
      await mkdir(tools, { recursive: true });
      await cp(await ensureTool("kustomize"), join(tools, "kustomize"));
      await cp(await ensureTool("helm"), join(tools, "helm"));
      const env: Record<string, string> = {
        ...imageEnv,
        // The image's paths moved into the temp folder, and a free port instead of 8443.
        HOME: home,
        FLOTILLA_DATA_DIR: dataDir,
        FLOTILLA_CACHE_DIR: cacheDir,
        FLOTILLA_LISTEN_HTTP: `127.0.0.1:${port}`,
        ...composeEnv,
        // The compose file's service names, here on loopback.
        DATABASE_URL: postgres().url,
        NATS_URL: nats().url,
        FLOTILLA_PUBLIC_URL: (composeEnv.FLOTILLA_PUBLIC_URL ?? "").replace(":8443", `:${port}`),
        PATH: `${tools}:${process.env.PATH}`,
        NODE_BINARY: node24,
      };
      assert.match(String(composeEnv.DATABASE_URL), /@postgres:5432\//);
      const hub = startBundle(join(bundles.hub, "dist", "cli", "main.js"), ["hub", "serve"], env);
      running.push(hub);
      await waitFor(
        "the hub bundle to serve",
        async () => {
          if (hub.child.exitCode !== null)
            throw new Error(`hub exited ${hub.child.exitCode}:\n${hub.output()}`);
          return /serving at https:\/\//.test(hub.output()) ? true : undefined;
        },
        60_000,
      );

      // The compose healthcheck, as written, with the image's paths and port moved.
      const [kind, command, ...rest] = compose.services.hub.healthcheck.test;
      assert.equal(kind, "CMD");
      const script = rest
        .join(" ")
        .replace(/^-e /, "")
        .replace("/var/lib/flotilla/hub/ca.crt", join(dataDir, "ca.crt"))
        .replace("port: 8443", `port: ${port}`);
      const health = await run(command === "node" ? node24 : String(command), ["-e", script]).then(
        () => 0,
        (error: { code: number }) => error.code,
      );
      assert.equal(health, 0);

      // It keeps its state in PostgreSQL, not PGlite, and speaks to NATS.
      const client = new pg.Client({ connectionString: postgres().url });
      await client.connect();
      try {
        const tables = await client.query(
          "select count(*)::int as n from information_schema.tables where table_schema = 'public'",
        );
        assert.ok((tables.rows[0] as { n: number }).n > 0);
      } finally {
        await client.end();
      }
      const connz = (await (await fetch(`${nats().monitorUrl}/connz`)).json()) as { num_connections: number };
      assert.ok(connz.num_connections >= 1, `NATS connections: ${connz.num_connections}`);

      // The agent bundle joins it from a real cluster with the chart's flags, the state in a Secret.
      const adminToken = (await readFile(join(dataDir, "admin.token"), "utf8")).trim();
      const flotilla = (args: string[]) =>
        run(node24, [join(bundles.hub, "dist", "cli", "main.js"), ...args], {
          env: {
            ...process.env,
            FLOTILLA_HUB: `https://127.0.0.1:${port}`,
            FLOTILLA_CA: join(dataDir, "ca.crt"),
            FLOTILLA_TOKEN: adminToken,
          },
        });
      const created = await flotilla(["cluster", "token", "create", "--ttl", "10m", "--uses", "1"]);
      const joinWords = created.stdout.trim().split(/\s+/);
      assert.equal(joinWords[0], "flotilla-agent");
      const statusPort = await freePort();
      const agent = startBundle(
        join(bundles.agent, "dist", "main.js"),
        [
          ...joinWords.slice(1).map((word) => word.replace("https://localhost:", "https://127.0.0.1:")),
          "--kubeconfig",
          clusters()[0]?.kubeconfigPath ?? "",
          "--name",
          "edge-1",
          "--state-namespace",
          "default",
          `--status-listen=127.0.0.1:${statusPort}`,
        ],
        { HOME: home, NODE_ENV: "production", NODE_BINARY: node24 },
      );
      running.push(agent);
      await waitFor(
        "the agent bundle's /readyz",
        async () => {
          if (agent.child.exitCode !== null)
            throw new Error(`agent exited ${agent.child.exitCode}:\n${agent.output()}`);
          return (await httpsGet(`https://127.0.0.1:${statusPort}/readyz`).catch(() => 0)) === 200
            ? true
            : undefined;
        },
        60_000,
      );
      const listed = await flotilla(["cluster", "list", "-o", "json"]);
      const clustersJson = JSON.parse(listed.stdout) as {
        clusters: { name: string; connection: string; agentVersion: string }[];
      };
      assert.deepEqual(
        clustersJson.clusters.map((c) => [c.name, c.connection, c.agentVersion]),
        [["edge-1", "CONNECTION_STATE_CONNECTED", "0.1.0"]],
      );
    });
  });
});
