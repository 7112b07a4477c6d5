// Issue 8, "hostile repository": repositories built to escape, exhaust or inject, resolved end to
// end through resolveFleet with a real GitSource, real kustomize and real helm. Every hostile app
// must get a problem that names its file and the cause, the healthy apps of the same commit must
// still resolve, and a secret planted outside the repository must never show up: not in a
// rendered object, a problem, the process output or the hub's cache directory.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import type { KubeObject } from "../render/kube-object.js";
import { createRenderCache, renderSourceCached } from "../render/render-cache.js";
import { createRenderTools } from "../render/render-source.js";
import { openGitSource, type SourceConfig } from "../source/git-source.js";
import type { Cluster } from "./cluster.js";
import { createFixtureRepo, type FixtureRepo, useTempDirs } from "./fixture-repo.js";
import type { Problem } from "./problem.js";
import { type FleetResolution, resolveFleet, type Target } from "./resolve-fleet.js";

const REPO_URL = "https://git.example.com/fleet.git";
const CLUSTERS: Cluster[] = [{ name: "prod", server: "https://prod.example.com:6443", labels: {} }];
/** More `..` than any directory of the repository, its checkout or its staged copy is deep. */
const CLIMB_LEVELS = 24;
/** Healthy apps in every hostile commit, with the ConfigMaps each must render. */
const HEALTHY: Record<string, string[]> = {
  "healthy-plain": ["plain"],
  "healthy-kustomize": ["kustomized"],
  "healthy-helm": ["healthy-helm"],
};
/**
 * Bounds of one resolve of a size scenario. Time is generous (CI machines are shared and slow);
 * memory is the sharper check: parsing 100,000 objects in full grew the process by over 300 MB.
 */
const TIME_LIMIT_MS = 30_000;
const PEAK_RSS_LIMIT_MB = 256;
/** How deep the hostile app-of-apps chain is declared. */
const NEST_LEVELS = 50;

/** Where the real tools are: FLOTILLA_KUSTOMIZE / FLOTILLA_HELM, else the repository's .cache/bin. */
function findTool(variable: string, cached: string): string {
  const path =
    process.env[variable] || fileURLToPath(new URL(`../../../.cache/bin/${cached}`, import.meta.url));
  if (!existsSync(path))
    throw new Error(`${variable} is unset and ${path} does not exist (run pnpm -s testenv prepare)`);
  return path;
}

/** Everything around the repository a hostile input may try to reach. */
type World = {
  dir: string;
  /** Unique content of the secret; it must appear nowhere the hub writes or answers. */
  marker: string;
  /** `<dir>/outside`: the secret file, a kustomize base, a component, a chart and a git repository. */
  outside: string;
  secretFile: string;
  /** A script that records that it ran (post-renderers, exec plugins). */
  canary: string;
  canaryRan: string;
};

/** A relative path that reaches `absolute` from any directory the hub reads the repository in. */
function climb(absolute: string): string {
  return `${"../".repeat(CLIMB_LEVELS)}${absolute.replace(/^\/+/, "")}`;
}

async function createWorld(dir: string): Promise<World> {
  const marker = `planted-secret-${randomBytes(12).toString("hex")}`;
  const outside = join(dir, "outside");
  const write = async (path: string, text: string) => {
    await mkdir(join(path, ".."), { recursive: true });
    await writeFile(path, text);
  };
  const stolen = stringify({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "stolen" },
    data: { marker },
  });
  await write(join(outside, "outside-secret.txt"), `${marker}\n`);
  await write(join(outside, "base", "kustomization.yaml"), "resources: [cm.yaml]\n");
  await write(join(outside, "base", "cm.yaml"), stolen);
  await write(
    join(outside, "component", "kustomization.yaml"),
    "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [cm.yaml]\n",
  );
  await write(join(outside, "component", "cm.yaml"), stolen);
  await write(join(outside, "chart", "Chart.yaml"), "apiVersion: v2\nname: stolen\nversion: 0.1.0\n");
  await write(join(outside, "chart", "templates", "cm.yaml"), stolen);
  await createFixtureRepo(join(outside, "repo"), { files: { "cm.yaml": stolen } });
  const canaryRan = join(dir, "canary-ran");
  const canary = join(dir, "canary.sh");
  await writeFile(canary, `#!/bin/sh\necho ran > '${canaryRan}'\ncat\n`);
  await chmod(canary, 0o755);
  return { dir, marker, outside, secretFile: join(outside, "outside-secret.txt"), canary, canaryRan };
}

function application(name: string, source: Record<string, unknown>, destination = true): string {
  return stringify({
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Application",
    metadata: { name, namespace: "argocd" },
    spec: {
      project: "default",
      source: { repoURL: REPO_URL, targetRevision: "HEAD", ...source },
      ...(destination ? { destination: { name: "prod", namespace: name } } : {}),
    },
  });
}

function configMap(name: string, data: Record<string, string> = { key: "value" }): string {
  return stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data });
}

/** The apps every hostile commit carries next to the hostile ones. */
function healthyFiles(): Record<string, string> {
  return {
    "apps/healthy-plain.yaml": application("healthy-plain", { path: "healthy/plain" }),
    "healthy/plain/cm.yaml": configMap("plain"),
    "apps/healthy-kustomize.yaml": application("healthy-kustomize", { path: "healthy/kustomize" }),
    "healthy/kustomize/kustomization.yaml": "resources: [cm.yaml]\n",
    "healthy/kustomize/cm.yaml": configMap("kustomized"),
    "apps/healthy-helm.yaml": application("healthy-helm", { path: "charts/basic" }),
    ...chartFiles("charts/basic"),
  };
}

function chartFiles(path: string, template = basicTemplate()): Record<string, string> {
  return {
    [`${path}/Chart.yaml`]: `apiVersion: v2\nname: ${path.split("/").at(-1)}\nversion: 0.1.0\n`,
    [`${path}/values.yaml`]: "a: from-chart\n",
    [`${path}/templates/cm.yaml`]: template,
  };
}

function basicTemplate(): string {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  a: {{ .Values.a | quote }}\n";
}

/** A YAML "billion laughs": nine levels of nine aliases, 387,420,489 strings once expanded. */
function aliasBomb(indent = ""): string {
  const names = "abcdefghi";
  let text = `${indent}a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n`;
  for (let i = 1; i < names.length; i++) {
    const previous = names[i - 1];
    text += `${indent}${names[i]}: &${names[i]} [${Array(9).fill(`*${previous}`).join(", ")}]\n`;
  }
  return text;
}

type Run = {
  resolution: FleetResolution;
  elapsedMs: number;
  /** How much the process's peak resident memory grew during the resolve. */
  peakRssGrowthMb: number;
  /** What the process wrote to stdout and stderr while resolving. */
  output: string;
  /** The hub's git cache and render work directory. */
  hubDir: string;
};

type RunOptions = {
  rewrites?: SourceConfig["rewrites"];
  gitLimits?: SourceConfig["limits"];
};

let runs = 0;

/** Resolves the fleet whose root is `apps/` of `repo`, as the hub does, and measures it. */
async function resolveRepo(world: World, repo: FixtureRepo, options: RunOptions = {}): Promise<Run> {
  const hubDir = join(world.dir, `hub-${++runs}`);
  const git = openGitSource({
    cacheDir: join(hubDir, "git"),
    repos: [{ url: repo.dir }],
    rewrites: [{ from: REPO_URL, to: repo.dir }, ...(options.rewrites ?? [])],
    ...(options.gitLimits ? { limits: options.gitLimits } : {}),
  });
  const tools = createRenderTools({
    kustomizePath: findTool("FLOTILLA_KUSTOMIZE", "kustomize-v5.8.2/kustomize"),
    helmPath: findTool("FLOTILLA_HELM", "helm-v3.22.0/helm"),
    workDir: join(hubDir, "render"),
  });
  const cache = createRenderCache({ maxEntries: 1_000 });
  const captured: string[] = [];
  const restore = captureOutput(captured);
  const memory = sampleMemory();
  const startedMs = performance.now();
  try {
    const resolution = await resolveFleet(
      { name: "root", source: { repoURL: REPO_URL, path: "apps" } },
      { git, clusters: CLUSTERS, render: (input, key) => renderSourceCached(input, tools, cache, key) },
    );
    return {
      resolution,
      elapsedMs: Math.round(performance.now() - startedMs),
      peakRssGrowthMb: memory.stop(),
      output: captured.join(""),
      hubDir,
    };
  } finally {
    memory.stop();
    restore();
  }
}

/** Samples the resident set every 20 ms; `stop` returns its highest growth over the start, in MB. */
function sampleMemory(): { stop(): number } {
  const startBytes = process.memoryUsage.rss();
  let peakBytes = startBytes;
  const sample = () => {
    peakBytes = Math.max(peakBytes, process.memoryUsage.rss());
  };
  const timer = setInterval(sample, 20);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return Math.round((peakBytes - startBytes) / (1024 * 1024));
    },
  };
}

/** Tees process.stdout and process.stderr into `into` until the returned function is called. */
function captureOutput(into: string[]): () => void {
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((stream) => stream.write);
  for (const [index, stream] of streams.entries()) {
    const original = originals[index] as typeof stream.write;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      into.push(typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8"));
      return (original as (...args: unknown[]) => boolean).call(stream, chunk, ...rest);
    }) as typeof stream.write;
  }
  return () => {
    for (const [index, stream] of streams.entries()) stream.write = originals[index] as typeof stream.write;
  };
}

/** Files below `dir` whose content holds `marker` (symlinks are not followed). */
async function findMarkerFiles(dir: string, marker: string): Promise<string[]> {
  const found: string[] = [];
  const visit = async (at: string): Promise<void> => {
    const entries = await readdir(at, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) await visit(path);
      else if (entry.isFile() && (await readFile(path)).includes(marker)) found.push(path);
    }
  };
  await visit(dir);
  return found;
}

/**
 * (c): the secret is in no object, problem or app of the resolution, in nothing the process
 * printed, in no file of the hub's cache, and the canary never ran. Returns what was searched.
 */
async function assertNothingLeaked(world: World, run: Run): Promise<{ objects: number; problems: number }> {
  const objects = run.resolution.targets.reduce((sum, target) => sum + target.objects.length, 0);
  assert.ok(!JSON.stringify(run.resolution).includes(world.marker), "the secret is in the resolution");
  assert.ok(!run.output.includes(world.marker), "the secret was printed");
  assert.deepEqual(await findMarkerFiles(run.hubDir, world.marker), [], "the secret is in the hub's cache");
  assert.ok(!existsSync(world.canaryRan), "the canary script ran");
  return { objects, problems: run.resolution.problems.length };
}

/** (b): every healthy app resolved to its cluster with exactly its objects. Returns how many. */
function assertHealthyResolved(run: Run): number {
  for (const [app, names] of Object.entries(HEALTHY)) {
    const target = targetOf(run, app);
    assert.deepEqual(
      target.objects.map((o) => `${o.kind}/${o.metadata.name}`),
      names.map((name) => `ConfigMap/${name}`),
      `healthy app ${app}`,
    );
    assert.ok(!run.resolution.problems.some((p) => p.app === app), `healthy app ${app} has a problem`);
  }
  return Object.keys(HEALTHY).length;
}

function targetOf(run: Run, app: string): Target {
  const target = run.resolution.targets.find((t) => t.app === app);
  if (!target) {
    const problems = run.resolution.problems.map((p) => `${p.app}: ${p.kind}: ${p.message}`).join("; ");
    assert.fail(`no target for ${app}; problems: ${problems}`);
  }
  return target;
}

/**
 * (a): the app has exactly one problem, of `kind`, whose message matches `message` (which names
 * the file or path and the cause); the app has no target and, when it was walked, is marked a
 * problem so the hub keeps what it had rather than pruning it.
 */
function assertRefused(run: Run, app: string, kind: Problem["kind"], message: RegExp): Problem {
  const problems = run.resolution.problems.filter((p) => p.app === app);
  assert.equal(problems.length, 1, `problems of ${app}: ${JSON.stringify(problems)}`);
  const problem = problems[0] as Problem;
  assert.equal(problem.kind, kind, `kind of ${app}'s problem: ${problem.message}`);
  assert.match(problem.message, message);
  assert.ok(!run.resolution.targets.some((t) => t.app === app), `${app} has a target`);
  const node = run.resolution.apps.find((a) => a.name === app);
  if (node && kind !== "cycle") assert.equal(node.state, "problem", `${app} is not marked a problem`);
  return problem;
}

/** Checks (a), (b) and (c) for each app and says what was exercised. */
async function expectRefused(
  t: TestContext,
  world: World,
  run: Run,
  expected: [app: string, kind: Problem["kind"], message: RegExp][],
): Promise<void> {
  const refused = expected.map(([app, kind, message]) => assertRefused(run, app, kind, message));
  const healthy = assertHealthyResolved(run);
  const searched = await assertNothingLeaked(world, run);
  const reported = refused.map((p) => `app "${p.app}": ${p.kind}: ${p.message}`).join(" | ");
  t.diagnostic(
    `${refused.length} hostile app(s) refused: ${reported}; ${healthy}/${healthy} healthy apps of the same commit resolved; secret found in 0 of ${searched.objects} objects, ${searched.problems} problems, the process output and the hub's cache`,
  );
}

function objectNamed(target: Target, kind: string, name: string): KubeObject {
  const found = target.objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) assert.fail(`${target.app} has no ${kind}/${name}`);
  return found;
}

/** The hostile apps that share one commit with the healthy ones. */
function hostileFleet(
  world: World,
  httpPort: number,
): { files: Record<string, string>; links: [string, string][] } {
  const { outside, canary } = world;
  const secretClimb = climb(world.secretFile);
  const local = `127.0.0.1:${httpPort}`;
  const files: Record<string, string> = {
    ...healthyFiles(),

    // Paths that leave the repository.
    "apps/path-climb.yaml": application("path-climb", { path: "../.." }),
    "apps/path-absolute.yaml": application("path-absolute", { path: outside }),
    "apps/path-through-link.yaml": application("path-through-link", { path: "linked-outside" }),
    "apps/file-link.yaml": application("file-link", { path: "file-link" }),
    "file-link/cm.yaml": configMap("file-link"),

    // Kustomize.
    "apps/kustomize-climb.yaml": application("kustomize-climb", { path: "kustomize/climb" }),
    "kustomize/climb/kustomization.yaml": stringify({ resources: [climb(join(outside, "base"))] }),
    "apps/kustomize-absolute.yaml": application("kustomize-absolute", { path: "kustomize/absolute" }),
    "kustomize/absolute/kustomization.yaml": stringify({ resources: [join(outside, "base")] }),
    "apps/kustomize-component.yaml": application("kustomize-component", {
      path: "healthy/kustomize",
      kustomize: { components: [climb(join(outside, "component"))] },
    }),
    "apps/kustomize-generator.yaml": application("kustomize-generator", { path: "kustomize/generator" }),
    "kustomize/generator/kustomization.yaml": stringify({
      configMapGenerator: [{ name: "leak", files: [`secret=${secretClimb}`] }],
    }),
    "apps/kustomize-linked-base.yaml": application("kustomize-linked-base", {
      path: "kustomize/linked-base",
    }),
    "kustomize/linked-base/kustomization.yaml": "resources: [../../bases/leaky]\n",
    "bases/leaky/kustomization.yaml": "resources: [cm.yaml]\n",
    "apps/kustomize-remote-github.yaml": application("kustomize-remote-github", { path: "kustomize/github" }),
    "kustomize/github/kustomization.yaml": stringify({
      resources: ["github.com/argoproj/argocd-example-apps//guestbook?ref=master"],
    }),
    "apps/kustomize-remote-https.yaml": application("kustomize-remote-https", { path: "kustomize/https" }),
    "kustomize/https/kustomization.yaml": stringify({ resources: [`http://${local}/base.yaml`] }),
    "apps/kustomize-exec.yaml": application("kustomize-exec", { path: "kustomize/exec" }),
    "kustomize/exec/kustomization.yaml": "generators: [generator.yaml]\n",
    "kustomize/exec/generator.yaml": stringify({
      apiVersion: "example.com/v1",
      kind: "Exfiltrate",
      metadata: {
        name: "run-me",
        annotations: { "config.kubernetes.io/function": stringify({ exec: { path: canary } }) },
      },
    }),

    // Helm.
    "apps/helm-values-absolute.yaml": application("helm-values-absolute", {
      path: "charts/basic",
      helm: { valueFiles: ["/etc/passwd"] },
    }),
    "apps/helm-values-climb.yaml": application("helm-values-climb", {
      path: "charts/basic",
      helm: { valueFiles: [secretClimb] },
    }),
    "apps/helm-file-parameter.yaml": application("helm-file-parameter", {
      path: "charts/basic",
      helm: { fileParameters: [{ name: "a", path: secretClimb }] },
    }),
    "apps/helm-values-file-url.yaml": application("helm-values-file-url", {
      path: "charts/basic",
      helm: { valueFiles: ["file:///etc/passwd"] },
    }),
    "apps/helm-values-http-url.yaml": application("helm-values-http-url", {
      path: "charts/basic",
      helm: { valueFiles: ["http://169.254.169.254/latest/user-data"] },
    }),
    "apps/helm-inject.yaml": application("helm-inject", {
      path: "charts/basic",
      helm: helmInjections(canary).values,
    }),
    "apps/helm-inject-release.yaml": application("helm-inject-release", {
      path: "charts/basic",
      helm: helmInjections(canary).release,
    }),
    "apps/helm-dependency.yaml": application("helm-dependency", { path: "charts/dependency" }),
    "charts/dependency/Chart.yaml": stringify({
      apiVersion: "v2",
      name: "dependency",
      version: "0.1.0",
      dependencies: [
        { name: "stolen", version: "0.1.0", repository: `file://${climb(join(outside, "chart"))}` },
      ],
    }),
    "charts/dependency/templates/cm.yaml": basicTemplate(),
    "apps/helm-dependency-link.yaml": application("helm-dependency-link", { path: "charts/dependency-link" }),
    ...chartFiles("charts/dependency-link"),
    "apps/helm-files-get.yaml": application("helm-files-get", { path: "charts/files-get" }),
    ...chartFiles(
      "charts/files-get",
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: files-get\ndata:\n  climbed: {{ .Files.Get "${secretClimb}" | quote }}\n  absolute: {{ .Files.Get "${world.secretFile}" | quote }}\n`,
    ),

    // Manifests.
    "apps/invalid-no-api-version.yaml": application("invalid-no-api-version", {
      path: "invalid/no-api-version",
    }),
    "invalid/no-api-version/cm.yaml": "kind: ConfigMap\nmetadata: {name: a}\n",
    "apps/invalid-no-kind.yaml": application("invalid-no-kind", { path: "invalid/no-kind" }),
    "invalid/no-kind/cm.yaml": `${configMap("a")}---\napiVersion: v1\nmetadata: {name: b}\n`,
    "apps/invalid-no-name.yaml": application("invalid-no-name", { path: "invalid/no-name" }),
    "invalid/no-name/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {labels: {a: b}}\n",
    "apps/invalid-list.yaml": application("invalid-list", { path: "invalid/list" }),
    "invalid/list/cm.yaml": "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n",
    "apps/invalid-name-type.yaml": application("invalid-name-type", { path: "invalid/name-type" }),
    "invalid/name-type/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 123}\n",
    "apps/invalid-labels.yaml": application("invalid-labels", { path: "invalid/labels" }),
    "invalid/labels/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: [x, y]}\n",
    "apps/unknown-kinds.yaml": application("unknown-kinds", { path: "unknown-kinds" }),
    "unknown-kinds/objects.yaml": `${stringify({
      apiVersion: "evil.example.com/v1",
      kind: "Frobnicator",
      metadata: { name: "frob" },
      spec: { command: ["/bin/sh", "-c", "id"] },
    })}---\n${stringify({ apiVersion: "app.k8s.io/v1beta1", kind: "Application", metadata: { name: "not-argo" } })}`,

    // Applications whose fields have the wrong types.
    "apps/typed-destination.yaml": stringify({
      apiVersion: "argoproj.io/v1alpha1",
      kind: "Application",
      metadata: { name: "typed-destination" },
      spec: { source: { repoURL: REPO_URL, path: "healthy/plain" }, destination: { name: 123 } },
    }),
    "apps/typed-path.yaml": stringify({
      apiVersion: "argoproj.io/v1alpha1",
      kind: "Application",
      metadata: { name: "typed-path" },
      spec: { source: { repoURL: REPO_URL, path: 5 }, destination: { name: "prod" } },
    }),
    "apps/typed-sources.yaml": stringify({
      apiVersion: "argoproj.io/v1alpha1",
      kind: "Application",
      metadata: { name: "typed-sources" },
      spec: { sources: "healthy/plain", destination: { name: "prod" } },
    }),

    // App of apps: a cycle of two, a cycle of one, and a chain 50 deep.
    "apps/cycle-a.yaml": application("cycle-a", { path: "cycles/a" }, false),
    "cycles/a/app.yaml": application("cycle-b", { path: "cycles/b" }, false),
    "cycles/b/app.yaml": application("cycle-a", { path: "cycles/a" }, false),
    "apps/cycle-self.yaml": application("cycle-self", { path: "cycles/self" }, false),
    "cycles/self/app.yaml": application("cycle-self", { path: "cycles/self" }, false),
    "apps/nest-01.yaml": application("nest-01", { path: "nest/01" }, false),
    [`nest/${NEST_LEVELS}/cm.yaml`]: configMap("deepest"),
  };
  for (let level = 1; level < NEST_LEVELS; level++) {
    const child = String(level + 1).padStart(2, "0");
    files[`nest/${String(level).padStart(2, "0")}/app.yaml`] = application(
      `nest-${child}`,
      { path: `nest/${child}` },
      false,
    );
  }
  return {
    files,
    links: [
      ["linked-outside", outside],
      ["file-link/secret.yaml", world.secretFile],
      ["file-link/relative.yaml", secretClimb],
      ["bases/leaky/cm.yaml", world.secretFile],
      ["charts/dependency-link/charts/stolen", join(outside, "chart")],
    ],
  };
}

/** Helm options that each try to pass `--post-renderer=<canary>` to helm as a flag. */
function helmInjections(canary: string): {
  values: Record<string, unknown>;
  release: Record<string, unknown>;
} {
  const flag = `--post-renderer=${canary}`;
  return {
    values: {
      parameters: [
        { name: "a", value: `b,${flag}` },
        { name: `x=y,${flag}`, value: "z" },
      ],
      namespace: flag,
      apiVersions: [flag],
    },
    release: { releaseName: flag },
  };
}

/** Repository URLs a hostile Application may name instead of the fleet's repository. */
function hostileUrls(world: World, httpPort: number): Record<string, string> {
  const local = `127.0.0.1:${httpPort}`;
  return {
    "url-file-etc": "file:///etc",
    "url-local-path": join(world.outside, "repo"),
    "url-local-file-url": `file://${join(world.outside, "repo")}`,
    "url-relative-path": "../outside/repo",
    "url-metadata": "http://169.254.169.254/latest/meta-data/",
    "url-loopback": `http://${local}/fleet.git`,
    "url-localhost": `http://localhost:${httpPort}/fleet.git`,
    "url-userinfo-host": `https://git.example.com@${local}/fleet.git`,
    "url-lookalike-host": "https://git.example.com.evil.example/fleet.git",
    "url-git": `git://${local}/fleet.git`,
    "url-ssh": `ssh://git@${local}/fleet.git`,
    "url-scp": "git@127.0.0.1:fleet.git",
    "url-mirror-climb": "https://git.example.com/mirror/..%2Foutside%2Frepo",
    "url-credentials": "https://deploy:TOPSECRET-TOKEN-123@evil.example/fleet.git",
  };
}

describe("reliability: hostile repository", () => {
  const tempDir = useTempDirs("flotilla-hostile");
  let world: World;
  let fleet: Run;
  let server: Server;
  let requests = 0;

  before(async () => {
    world = await createWorld(await tempDir());
    server = createServer((_req, res) => {
      requests += 1;
      res.statusCode = 404;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const { files, links } = hostileFleet(world, port);
    for (const [app, url] of Object.entries(hostileUrls(world, port))) {
      files[`apps/${app}.yaml`] = application(app, { repoURL: url, path: "." });
    }
    const repo = await createFixtureRepo(join(world.dir, "repo"), { files });
    for (const [path, target] of links) {
      await mkdir(join(repo.dir, path, ".."), { recursive: true });
      await symlink(target, join(repo.dir, path));
    }
    await repo.commit({}, "hostile links");
    await mkdir(join(world.dir, "mirror"), { recursive: true });
    fleet = await resolveRepo(world, repo, {
      rewrites: [{ from: "https://git.example.com/mirror", to: join(world.dir, "mirror") }],
    });
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("an app path that climbs out with ../.. is refused", async (t) => {
    await expectRefused(t, world, fleet, [
      ["path-climb", "invalid", /^\.\.\/\.\.: app path outside repository root$/],
    ]);
  });

  it("an absolute app path is refused", async (t) => {
    await expectRefused(t, world, fleet, [["path-absolute", "invalid", /\/outside: app path is absolute$/]]);
  });

  it("an app path through a symlink that points outside the repository is refused", async (t) => {
    await expectRefused(t, world, fleet, [
      ["path-through-link", "render", /^linked-outside: symlink leaves the repository$/],
    ]);
  });

  it("a symlinked manifest that points at a secret outside the repository is refused", async (t) => {
    await expectRefused(t, world, fleet, [
      ["file-link", "render", /^file-link\/(relative|secret)\.yaml: symlink leaves the repository$/],
    ]);
  });

  it("a kustomization resource that climbs out of the repository is refused", async (t) => {
    await expectRefused(t, world, fleet, [
      [
        "kustomize-climb",
        "invalid",
        /^kustomize\/climb\/kustomization\.yaml: (\.\.\/)+.*\/outside\/base resolves outside the repository$/,
      ],
      [
        "kustomize-absolute",
        "invalid",
        /^kustomize\/absolute\/kustomization\.yaml: \/.*\/outside\/base resolves outside the repository$/,
      ],
    ]);
  });

  it("a kustomize component or generator file outside the repository is refused", async (t) => {
    await expectRefused(t, world, fleet, [
      [
        "kustomize-component",
        "invalid",
        /^kustomize\.components: (\.\.\/)+.*\/outside\/component resolves outside the repository$/,
      ],
      [
        "kustomize-generator",
        "invalid",
        /^kustomize\/generator\/kustomization\.yaml: (\.\.\/)+.*outside-secret\.txt resolves outside the repository$/,
      ],
    ]);
  });

  it("a kustomize base holding a symlink to a secret outside the repository is refused", async (t) => {
    await expectRefused(t, world, fleet, [
      ["kustomize-linked-base", "render", /^bases\/leaky\/cm\.yaml: symlink leaves the repository$/],
    ]);
  });

  it("remote kustomize bases fail at once without network", async (t) => {
    await expectRefused(t, world, fleet, [
      [
        "kustomize-remote-github",
        "render",
        /remote reference github\.com\/argoproj\/.*: Flotilla renders without network access/,
      ],
      [
        "kustomize-remote-https",
        "render",
        /remote reference http:\/\/127\.0\.0\.1:\d+\/base\.yaml: Flotilla renders without network access/,
      ],
    ]);
    assert.equal(requests, 0, "kustomize reached the local HTTP server");
    t.diagnostic(`the local HTTP server named by a base received ${requests} requests`);
  });

  it("a kustomize exec function never runs", async (t) => {
    await expectRefused(t, world, fleet, [
      [
        "kustomize-exec",
        "render",
        /^kustomize build kustomize\/exec failed \(exit 1\): .*external plugins disabled/,
      ],
    ]);
  });

  it("helm valueFiles and fileParameters that name files outside the repository are refused", async (t) => {
    await expectRefused(t, world, fleet, [
      ["helm-values-absolute", "render", /^helm\.valueFiles: \/etc\/passwd: no such file in the repository$/],
      [
        "helm-values-climb",
        "invalid",
        /^helm\.valueFiles: (\.\.\/)+.*outside-secret\.txt resolves outside the repository root$/,
      ],
      [
        "helm-file-parameter",
        "invalid",
        /^helm\.fileParameters a: (\.\.\/)+.*outside-secret\.txt resolves outside the repository root$/,
      ],
      [
        "helm-values-file-url",
        "invalid",
        /^helm\.valueFiles: file:\/\/\/etc\/passwd: the URL scheme 'file' is not allowed$/,
      ],
      [
        "helm-values-http-url",
        "unsupported",
        /^helm\.valueFiles: http:\/\/169\.254\.169\.254\/latest\/user-data: remote files are not fetched \(no network\)$/,
      ],
    ]);
  });

  it("helm parameters built to inject --post-renderer stay values and run nothing", async (t) => {
    const target = targetOf(fleet, "helm-inject");
    const data = objectNamed(target, "ConfigMap", "helm-inject").data as Record<string, string>;
    assert.equal(data.a, `b,--post-renderer=${world.canary}`);
    await expectRefused(t, world, fleet, [["helm-inject-release", "render", /invalid release name/]]);
    const attempts = JSON.stringify(helmInjections(world.canary)).split("--post-renderer=").length - 1;
    t.diagnostic(
      `${attempts} --post-renderer injections (a --set value, a --set name, the namespace, an API version, the release name): the value arrived literally, the release name was refused, the post-renderer ran ${existsSync(world.canaryRan) ? 1 : 0} times`,
    );
  });

  it("a helm chart dependency pointing outside the repository is never loaded", async (t) => {
    await expectRefused(t, world, fleet, [
      [
        "helm-dependency",
        "render",
        /^charts\/dependency: chart dependencies not vendored in charts\/: stolen; Flotilla does not download them/,
      ],
      [
        "helm-dependency-link",
        "render",
        /^charts\/dependency-link\/charts\/stolen: symlink leaves the repository$/,
      ],
    ]);
  });

  it("a helm template cannot read files outside its chart", async (t) => {
    const data = objectNamed(targetOf(fleet, "helm-files-get"), "ConfigMap", "files-get").data;
    assert.deepEqual(data, { climbed: "", absolute: "" });
    const healthy = assertHealthyResolved(fleet);
    const searched = await assertNothingLeaked(world, fleet);
    t.diagnostic(
      `.Files.Get of the secret by a climbing and an absolute path: ${Object.values(data as object).filter((v) => v === "").length} of 2 returned ""; ${healthy} healthy apps resolved; secret in 0 of ${searched.objects} objects`,
    );
  });

  it("manifests without apiVersion, kind or name, or with a list instead of a map, are reported", async (t) => {
    await expectRefused(t, world, fleet, [
      [
        "invalid-no-api-version",
        "invalid",
        /^invalid\/no-api-version\/cm\.yaml document 1: object without apiVersion$/,
      ],
      ["invalid-no-kind", "render", /^invalid\/no-kind\/cm\.yaml document 2: object has no kind$/],
      [
        "invalid-no-name",
        "invalid",
        /^invalid\/no-name\/cm\.yaml document 1: ConfigMap has no metadata\.name$/,
      ],
      ["invalid-list", "render", /^invalid\/list\/cm\.yaml document 1: not a mapping$/],
      [
        "invalid-name-type",
        "invalid",
        /^invalid\/name-type\/cm\.yaml document 1: ConfigMap has a metadata\.name that is not a string$/,
      ],
      [
        "invalid-labels",
        "invalid",
        /^invalid\/labels\/cm\.yaml document 1: ConfigMap has metadata\.labels that are not a map of strings$/,
      ],
    ]);
  });

  it("objects of unknown kinds pass through as objects, as in Argo CD", async (t) => {
    const target = targetOf(fleet, "unknown-kinds");
    assert.deepEqual(
      target.objects.map((o) => `${o.apiVersion} ${o.kind}/${o.metadata.name}`),
      ["app.k8s.io/v1beta1 Application/not-argo", "evil.example.com/v1 Frobnicator/frob"],
    );
    const walked = fleet.resolution.apps.filter((a) => a.name === "not-argo").length;
    assert.equal(walked, 0, "an app.k8s.io Application was walked as an Argo CD Application");
    assertHealthyResolved(fleet);
    t.diagnostic(
      `${target.objects.length} objects of unknown kinds were shipped as objects, tracked to "unknown-kinds"; ${walked} were taken for Argo CD Applications`,
    );
  });

  it("Applications whose fields have the wrong types are reported, not fatal to the fleet", async (t) => {
    await expectRefused(t, world, fleet, [
      [
        "typed-destination",
        "invalid",
        /^Application\/typed-destination: spec\.destination\.name must be a string$/,
      ],
      ["typed-path", "invalid", /^Application\/typed-path: spec\.source\.path must be a string$/],
      ["typed-sources", "invalid", /^Application\/typed-sources: spec\.sources must be a list$/],
    ]);
  });

  it("an app-of-apps cycle is reported with the path that closes it", async (t) => {
    await expectRefused(t, world, fleet, [
      ["cycle-a", "cycle", /^app-of-apps cycle: cycle-a -> cycle-b -> cycle-a$/],
      ["cycle-self", "cycle", /^app-of-apps cycle: cycle-self -> cycle-self$/],
    ]);
  });

  it("app-of-apps nested 50 deep stops at the depth limit", async (t) => {
    const chain = Array.from({ length: 10 }, (_, i) => `nest-${String(i + 1).padStart(2, "0")}`);
    await expectRefused(t, world, fleet, [
      [
        "nest-11",
        "limit",
        new RegExp(`^app-of-apps nesting deeper than 10 \\(root -> ${chain.join(" -> ")}\\)$`),
      ],
    ]);
    const walked = fleet.resolution.apps.filter((a) => a.name.startsWith("nest-"));
    assert.deepEqual(
      walked.map((a) => `${a.name}:${a.state}`),
      [...chain.map((name) => `${name}:ok`), "nest-11:problem"],
    );
    t.diagnostic(
      `${NEST_LEVELS} levels declared; ${walked.length - 1} resolved, level 11 refused and kept, ${NEST_LEVELS - walked.length} never read`,
    );
  });

  it("repository URLs that point at local files are refused without reading them", async (t) => {
    await expectRefused(t, world, fleet, [
      [
        "url-file-etc",
        "source",
        /^repository file:\/\/\/etc is not configured or mapped; it is not fetched$/,
      ],
      [
        "url-local-path",
        "source",
        /^repository \/.*\/outside\/repo is not configured or mapped; it is not fetched$/,
      ],
      [
        "url-local-file-url",
        "source",
        /^repository file:\/\/\/.*\/outside\/repo is not configured or mapped/,
      ],
      ["url-relative-path", "source", /^repository \.\.\/outside\/repo is not configured or mapped/],
      [
        "url-mirror-climb",
        "source",
        /^repository https:\/\/git\.example\.com\/mirror\/\.\.%2Foutside%2Frepo is not configured or mapped/,
      ],
    ]);
  });

  it("repository URLs that point at internal hosts are refused without a request", async (t) => {
    const apps = ["url-metadata", "url-loopback", "url-localhost", "url-userinfo-host", "url-lookalike-host"];
    const schemes = ["url-git", "url-ssh", "url-scp"];
    await expectRefused(
      t,
      world,
      fleet,
      [...apps, ...schemes].map((app) => [app, "source", /is not configured or mapped; it is not fetched$/]),
    );
    assert.equal(requests, 0);
    t.diagnostic(
      `${apps.length + schemes.length} internal-host, git:, ssh: and scp-like URLs; the local HTTP server received ${requests} requests`,
    );
  });

  it("credentials in a hostile repository URL appear in no problem", async (t) => {
    await expectRefused(t, world, fleet, [
      [
        "url-credentials",
        "source",
        /^repository https:\/\/evil\.example\/fleet\.git is not configured or mapped/,
      ],
    ]);
    assert.ok(!JSON.stringify(fleet.resolution).includes("TOPSECRET-TOKEN-123"));
  });

  it("one commit full of hostile apps never fails or empties the fleet", async (t) => {
    const { resolution } = fleet;
    const failed = resolution.apps.filter((a) => a.state === "problem").length;
    const healthy = assertHealthyResolved(fleet);
    assert.ok(resolution.problems.length >= 40, `only ${resolution.problems.length} problems`);
    for (const problem of resolution.problems) {
      const node = resolution.apps.find((a) => a.name === problem.app);
      assert.ok(node, `problem of an app that was never walked: ${problem.app}`);
    }
    const searched = await assertNothingLeaked(world, fleet);
    assert.ok(fleet.elapsedMs < TIME_LIMIT_MS, `the resolve took ${fleet.elapsedMs} ms`);
    t.diagnostic(
      `${resolution.apps.length} apps walked in ${fleet.elapsedMs} ms: ${resolution.problems.length} problems on ${failed} apps marked to keep their state, ${resolution.targets.length} targets (${healthy} healthy apps among them), secret in 0 of ${searched.objects} objects`,
    );
  });
});

describe("reliability: hostile repository", () => {
  const tempDir = useTempDirs("flotilla-hostile-size");
  let world: World;
  before(async () => {
    world = await createWorld(await tempDir());
  });

  /** A repository of the healthy apps and `files`, resolved on its own so its cost is measured. */
  async function resolveWith(files: Record<string, string>, options: RunOptions = {}): Promise<Run> {
    const repo = await createFixtureRepo(join(await tempDir(), "repo"), {
      files: { ...healthyFiles(), ...files },
    });
    return resolveRepo(world, repo, options);
  }

  function assertBounded(run: Run): void {
    assert.ok(run.elapsedMs < TIME_LIMIT_MS, `the resolve took ${run.elapsedMs} ms`);
    assert.ok(run.peakRssGrowthMb < PEAK_RSS_LIMIT_MB, `peak memory grew by ${run.peakRssGrowthMb} MB`);
  }

  it("YAML alias bombs are refused within a bounded time", async (t) => {
    const run = await resolveWith({
      "apps/bomb-manifest.yaml": application("bomb-manifest", { path: "bombs/manifest" }),
      "bombs/manifest/cm.yaml": `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n${aliasBomb("  ")}`,
      "apps/bomb-kustomization.yaml": application("bomb-kustomization", { path: "bombs/kustomization" }),
      "bombs/kustomization/kustomization.yaml": `resources: [cm.yaml]\n${aliasBomb()}`,
      "bombs/kustomization/cm.yaml": configMap("never"),
      "apps/bomb-helm-values.yaml": application("bomb-helm-values", { path: "bombs/chart" }),
      ...chartFiles("bombs/chart"),
      "bombs/chart/values.yaml": `a: x\n${aliasBomb()}`,
      "apps/bomb-source-override.yaml": application("bomb-source-override", { path: "bombs/override" }),
      "bombs/override/cm.yaml": configMap("never"),
      "bombs/override/.argocd-source.yaml": aliasBomb(),
    });
    await expectRefused(t, world, run, [
      [
        "bomb-manifest",
        "limit",
        /^bombs\/manifest\/cm\.yaml: document 1: YAML aliases expand beyond 100 nodes \(alias bomb\)$/,
      ],
      [
        "bomb-kustomization",
        "limit",
        /^kustomization\.yaml: document 1: YAML aliases expand beyond 100 nodes \(alias bomb\)$/,
      ],
      ["bomb-helm-values", "render", /cannot load values\.yaml: .*excessive aliasing/],
      [
        "bomb-source-override",
        "limit",
        /^\.argocd-source\.yaml: document 1: YAML aliases expand beyond 100 nodes \(alias bomb\)$/,
      ],
    ]);
    assertBounded(run);
    t.diagnostic(
      `${run.resolution.problems.length} billion-laughs documents (${(9 ** 9).toLocaleString("en-US")} strings each once expanded) refused in ${run.elapsedMs} ms; peak memory grew by ${run.peakRssGrowthMb} MB`,
    );
  });

  it("a 50 MB manifest is refused at the file size limit", async (t) => {
    const line = `    ${"x".repeat(1019)}\n`;
    const manifest = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  blob: |\n${line.repeat(50 * 1024)}`;
    const run = await resolveWith({
      "apps/huge-file.yaml": application("huge-file", { path: "huge" }),
      "huge/big.yaml": manifest,
    });
    await expectRefused(t, world, run, [
      ["huge-file", "limit", /^huge\/big\.yaml: file exceeds the repository file size limit$/],
    ]);
    assertBounded(run);
    t.diagnostic(
      `a ${Math.round(manifest.length / 2 ** 20)} MiB manifest refused at the 8 MiB file limit in ${run.elapsedMs} ms; peak memory grew by ${run.peakRssGrowthMb} MB`,
    );
  });

  it("100,000 small objects in one file are refused at the object limit", async (t) => {
    const count = 100_000;
    const items = Array.from({ length: count }, (_, i) => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: `c${i}` },
    }));
    const run = await resolveWith({
      "apps/many-documents.yaml": application("many-documents", { path: "many/documents" }),
      "many/documents/all.yaml": configMaps(count, "c"),
      "apps/many-list-items.yaml": application("many-list-items", { path: "many/list" }),
      "many/list/all.json": JSON.stringify({ apiVersion: "v1", kind: "List", items }),
    });
    await expectRefused(t, world, run, [
      [
        "many-documents",
        "limit",
        /^many\/documents\/all\.yaml: more than 10000 objects; a render may produce at most 10000$/,
      ],
      [
        "many-list-items",
        "limit",
        /^many\/list\/all\.json items\[10000\]: more than 10000 objects; a render may produce at most 10000$/,
      ],
    ]);
    assertBounded(run);
    t.diagnostic(
      `${count.toLocaleString("en-US")} objects as one YAML stream of as many documents and as one JSON List: both refused at the 10,000-object limit in ${run.elapsedMs} ms; peak memory grew by ${run.peakRssGrowthMb} MB`,
    );
  });

  it("objects spread over many files are counted together against the object limit", async (t) => {
    const files = 11;
    const perFile = 1_000;
    const run = await resolveWith({
      "apps/many-files.yaml": application("many-files", { path: "many/files" }),
      ...Object.fromEntries(
        Array.from({ length: files }, (_, file) => [
          `many/files/part-${file}.yaml`,
          configMaps(perFile, `f${file}-`),
        ]),
      ),
    });
    // Lexical order: part-0, part-1, part-10, part-2 ... part-8 fill the 10,000; part-9 is one too many.
    await expectRefused(t, world, run, [
      [
        "many-files",
        "limit",
        /^many\/files\/part-9\.yaml: more than 10000 objects; a render may produce at most 10000$/,
      ],
    ]);
    assertBounded(run);
    t.diagnostic(
      `${files} files of ${perFile} objects each: refused at the ${files}th file against the 10,000-object limit in ${run.elapsedMs} ms; peak memory grew by ${run.peakRssGrowthMb} MB`,
    );
  });

  it("a tree that expands to a million paths is refused at the checkout limit", async (t) => {
    const bomb = await createTreeBomb(join(await tempDir(), "tree-bomb"));
    const paths = TREE_BOMB_FANOUT ** TREE_BOMB_LEVELS;
    const run = await resolveWith(
      {
        "apps/tree-bomb.yaml": application("tree-bomb", {
          repoURL: "https://git.example.com/tree-bomb.git",
          path: "app",
        }),
      },
      {
        rewrites: [{ from: "https://git.example.com/tree-bomb.git", to: bomb.dir }],
        // The default is 100,000 paths; a tenth is reached the same way, ten times sooner.
        gitLimits: { maxCheckoutFiles: 10_000 },
      },
    );
    await expectRefused(t, world, run, [
      ["tree-bomb", "source", /: the tree holds more than 10000 files or directories$/],
    ]);
    assertBounded(run);
    t.diagnostic(
      `a tree of ${TREE_BOMB_LEVELS} levels of ${TREE_BOMB_FANOUT} entries (${paths.toLocaleString("en-US")} file paths from ${bomb.objects} git objects) refused at a 10,000-path checkout limit in ${run.elapsedMs} ms; peak memory grew by ${run.peakRssGrowthMb} MB`,
    );
  });
});

/** `count` ConfigMaps as one YAML stream, named `<prefix><index>`. */
function configMaps(count: number, prefix: string): string {
  const docs: string[] = [];
  for (let i = 0; i < count; i++)
    docs.push(`apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${prefix}${i}}\n`);
  return docs.join("---\n");
}

const TREE_BOMB_LEVELS = 6;
const TREE_BOMB_FANOUT = 10;

/**
 * A repository whose tree names one 10-entry tree from every entry of the level above, six
 * levels down: a few objects, a million paths. Returns its work tree and how many git objects
 * make the bomb.
 */
async function createTreeBomb(dir: string): Promise<{ dir: string; objects: number }> {
  const repo = await createFixtureRepo(dir, { files: { "app/cm.yaml": configMap("bombed") } });
  const scratch = join(dir, "..", "tree-bomb-objects");
  await mkdir(scratch, { recursive: true });
  const writeTree = async (entries: { mode: string; name: string; oid: string }[], name: string) => {
    const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : 1));
    const body = Buffer.concat(
      sorted.map((e) => Buffer.concat([Buffer.from(`${e.mode} ${e.name}\0`), Buffer.from(e.oid, "hex")])),
    );
    const file = join(scratch, name);
    await writeFile(file, body);
    return repo.git("hash-object", "-w", "-t", "tree", "--", file);
  };
  await writeFile(join(scratch, "blob"), "x\n");
  let oid = await repo.git("hash-object", "-w", "--", join(scratch, "blob"));
  let mode = "100644";
  for (let level = 0; level < TREE_BOMB_LEVELS; level++) {
    const entries = Array.from({ length: TREE_BOMB_FANOUT }, (_, i) => ({ mode, name: `e${i}`, oid }));
    oid = await writeTree(entries, `level-${level}`);
    mode = "40000";
  }
  const app = await repo.git("rev-parse", "HEAD:app");
  const root = await writeTree(
    [
      { mode: "40000", name: "app", oid: app },
      { mode: "40000", name: "bomb", oid },
    ],
    "root",
  );
  const commit = await repo.git("commit-tree", "-p", "HEAD", "-m", "tree bomb", root);
  await repo.git("update-ref", "refs/heads/main", commit);
  // The blob, one tree per level, and the root tree.
  return { dir: repo.dir, objects: TREE_BOMB_LEVELS + 2 };
}
