import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it, type TestContext } from "node:test";
import type { HubEvent, NewEvent, Source } from "../store/store.js";
import type { HubRuntime, LogLevel, RefreshResult } from "./hub-runtime.js";
import { createWebhookHandler, readPushEvent, tracksRef, type WebhookOptions } from "./webhooks.js";

const SECRET = "s3cret-webhook-value-do-not-echo";
const OTHER_SECRET = "another-webhook-secret-value";
const DEADLINE_MS = 5_000;

type FakeSource = { id: string; repoUrl: string; targetRevision?: string; secret?: string | null };
type LogRecord = { level: LogLevel; message: string; fields: Record<string, unknown> };

/** The slice of HubRuntime the webhook handler uses, recording what it is asked to do. */
function createFakeRuntime(sources: FakeSource[], refresh?: (id: string) => Promise<RefreshResult>) {
  const refreshed: string[] = [];
  const events: NewEvent[] = [];
  const logs: LogRecord[] = [];
  const logWaiters: { level: LogLevel; resolve: (record: LogRecord) => void }[] = [];
  const fake = {
    store: {
      sources: {
        list: async (): Promise<Source[]> =>
          sources.map((source) => ({
            id: source.id,
            repoUrl: source.repoUrl,
            path: ".",
            targetRevision: source.targetRevision ?? "HEAD",
            pollIntervalMs: 30_000,
            hasWebhookSecret: Boolean(source.secret),
            createdAt: new Date(0),
          })),
        getWebhookSecret: async (id: string) => sources.find((source) => source.id === id)?.secret ?? null,
      },
      events: {
        append: async (event: NewEvent): Promise<HubEvent> => {
          events.push(event);
          return {
            id: events.length,
            at: new Date(0),
            clusterId: null,
            app: null,
            type: event.type,
            message: event.message ?? "",
            data: event.data ?? {},
          };
        },
      },
    },
    refresh: (options?: { source?: string }) => {
      const id = options?.source ?? "";
      refreshed.push(id);
      return refresh ? refresh(id) : Promise.resolve({ sources: [], changedTargets: 0 });
    },
    log: (level: LogLevel, message: string, fields: Record<string, unknown> = {}) => {
      const record = { level, message, fields };
      logs.push(record);
      for (const waiter of logWaiters.splice(0)) {
        if (waiter.level === level) waiter.resolve(record);
        else logWaiters.push(waiter);
      }
    },
  };
  return {
    runtime: asHubRuntime(fake),
    refreshed,
    events,
    logs,
    /** Resolves with the next log record of `level`; rejects after DEADLINE_MS. */
    nextLog: (level: LogLevel) =>
      new Promise<LogRecord>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no ${level} log within ${DEADLINE_MS} ms`)),
          DEADLINE_MS,
        );
        logWaiters.push({
          level,
          resolve: (record) => {
            clearTimeout(timer);
            resolve(record);
          },
        });
      }),
  };
}

/** The handler only touches what the fake provides; anything else would throw in the tests. */
function asHubRuntime(fake: unknown): HubRuntime {
  return fake as HubRuntime;
}

/** Serves the webhook handler on 127.0.0.1 for the test; closed when the test ends. */
async function useWebhookServer(
  t: TestContext,
  runtime: HubRuntime,
  options?: WebhookOptions,
): Promise<string> {
  const handler = createWebhookHandler(runtime, options);
  const server = createServer((req, res) => {
    handler(req, res).catch((error: unknown) => t.diagnostic(`handler rejected: ${String(error)}`));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

type Answer = { status: number; body: Record<string, unknown>; text: string };

async function post(url: string, headers: Record<string, string>, body: string): Promise<Answer> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
    // A deadline, so a handler that waits for something it should not fails the test instead of hanging it.
    signal: AbortSignal.timeout(DEADLINE_MS),
  });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as Record<string, unknown>, text };
}

function hmacHex(body: string, secret: string): string {
  return createHmac("sha256", secret).update(body).digest("hex");
}

function githubPush(ref: string, repo = "org/infra"): string {
  return JSON.stringify({
    ref,
    before: "0".repeat(40),
    after: "a".repeat(40),
    repository: {
      full_name: repo,
      html_url: `https://github.com/${repo}`,
      clone_url: `https://github.com/${repo}.git`,
      ssh_url: `git@github.com:${repo}.git`,
      git_url: `git://github.com/${repo}.git`,
    },
  });
}

function gitlabPush(ref: string): string {
  return JSON.stringify({
    object_kind: ref.startsWith("refs/tags/") ? "tag_push" : "push",
    ref,
    after: "b".repeat(40),
    project: {
      web_url: "https://gitlab.example.com/platform/infra",
      git_http_url: "https://gitlab.example.com/platform/infra.git",
      git_ssh_url: "ssh://git@gitlab.example.com:2222/platform/infra.git",
    },
    repository: { homepage: "https://gitlab.example.com/platform/infra" },
  });
}

function giteaPush(ref: string): string {
  return JSON.stringify({
    ref,
    after: "c".repeat(40),
    repository: {
      html_url: "https://gitea.example.com/ops/fleet",
      clone_url: "https://gitea.example.com/ops/fleet.git",
      ssh_url: "git@gitea.example.com:ops/fleet.git",
    },
  });
}

function githubHeaders(body: string, secret = SECRET, event = "push"): Record<string, string> {
  return { "x-github-event": event, "x-hub-signature-256": `sha256=${hmacHex(body, secret)}` };
}

describe("createWebhookHandler", () => {
  it("refreshes exactly the sources tracking the repository and branch of a signed GitHub push", async (t) => {
    const fake = createFakeRuntime([
      { id: "head", repoUrl: "https://github.com/org/infra", secret: SECRET },
      { id: "main", repoUrl: "https://github.com/org/infra", targetRevision: "main", secret: SECRET },
      {
        id: "full-ref",
        repoUrl: "https://github.com/org/infra",
        targetRevision: "refs/heads/main",
        secret: SECRET,
      },
      { id: "release", repoUrl: "https://github.com/org/infra", targetRevision: "release", secret: SECRET },
      { id: "other-repo", repoUrl: "https://github.com/org/apps", secret: SECRET },
    ]);
    const url = await useWebhookServer(t, fake.runtime);
    const body = githubPush("refs/heads/main");

    const answer = await post(`${url}/webhooks/github`, githubHeaders(body), body);

    assert.equal(answer.status, 202);
    assert.deepEqual(answer.body, { refreshing: ["full-ref", "head", "main"] });
    assert.deepEqual(fake.refreshed.sort(), ["full-ref", "head", "main"]);
    assert.deepEqual(fake.events, []);
  });

  it("refreshes the source of a GitLab push whose token matches", async (t) => {
    const fake = createFakeRuntime([
      { id: "infra", repoUrl: "https://gitlab.example.com/platform/infra.git", secret: SECRET },
      { id: "elsewhere", repoUrl: "https://gitlab.example.com/platform/other", secret: SECRET },
    ]);
    const url = await useWebhookServer(t, fake.runtime);
    const body = gitlabPush("refs/heads/main");

    const answer = await post(
      `${url}/webhooks/gitlab`,
      { "x-gitlab-event": "Push Hook", "x-gitlab-token": SECRET },
      body,
    );

    assert.equal(answer.status, 202);
    assert.deepEqual(answer.body, { refreshing: ["infra"] });
    assert.deepEqual(fake.refreshed, ["infra"]);
  });

  it("refreshes a source pinned to a tag on a GitLab tag push, but not one tracking HEAD", async (t) => {
    const fake = createFakeRuntime([
      {
        id: "pinned",
        repoUrl: "https://gitlab.example.com/platform/infra",
        targetRevision: "v1.2.0",
        secret: SECRET,
      },
      { id: "head", repoUrl: "https://gitlab.example.com/platform/infra", secret: SECRET },
    ]);
    const url = await useWebhookServer(t, fake.runtime);
    const body = gitlabPush("refs/tags/v1.2.0");

    const answer = await post(
      `${url}/webhooks/gitlab`,
      { "x-gitlab-event": "Tag Push Hook", "x-gitlab-token": SECRET },
      body,
    );

    assert.equal(answer.status, 202);
    assert.deepEqual(fake.refreshed, ["pinned"]);
  });

  it("refreshes the source of a Gitea push whose signature matches", async (t) => {
    const fake = createFakeRuntime([
      { id: "fleet", repoUrl: "https://gitea.example.com/ops/fleet", targetRevision: "main", secret: SECRET },
    ]);
    const url = await useWebhookServer(t, fake.runtime);
    const body = giteaPush("refs/heads/main");

    const answer = await post(
      `${url}/webhooks/gitea`,
      { "x-gitea-event": "push", "x-gitea-signature": hmacHex(body, SECRET) },
      body,
    );

    assert.equal(answer.status, 202);
    assert.deepEqual(answer.body, { refreshing: ["fleet"] });
    assert.deepEqual(fake.refreshed, ["fleet"]);
  });

  it("matches sources written as https with .git, scp-like ssh, ssh:// with a port, or in another case", async (t) => {
    const fake = createFakeRuntime([
      { id: "https-git", repoUrl: "https://github.com/org/infra.git", secret: SECRET },
      { id: "scp", repoUrl: "git@github.com:org/infra.git", secret: SECRET },
      { id: "ssh-url", repoUrl: "ssh://git@github.com/org/infra", secret: SECRET },
      { id: "cased", repoUrl: "https://GitHub.com/Org/Infra/", secret: SECRET },
      { id: "gitlab-port", repoUrl: "ssh://git@gitlab.example.com:2222/platform/infra.git", secret: SECRET },
    ]);
    const url = await useWebhookServer(t, fake.runtime);
    const github = githubPush("refs/heads/main");
    const gitlab = gitlabPush("refs/heads/main");

    const fromGithub = await post(`${url}/webhooks/github`, githubHeaders(github), github);
    const fromGitlab = await post(
      `${url}/webhooks/gitlab`,
      { "x-gitlab-event": "Push Hook", "x-gitlab-token": SECRET },
      gitlab,
    );

    assert.deepEqual(fromGithub.body, { refreshing: ["cased", "https-git", "scp", "ssh-url"] });
    assert.deepEqual(fromGitlab.body, { refreshing: ["gitlab-port"] });
  });

  it("answers 401 to a wrong GitHub signature, refreshes nothing and records the rejection without the secret", async (t) => {
    const fake = createFakeRuntime([
      { id: "infra", repoUrl: "https://github.com/org/infra", secret: SECRET },
    ]);
    const url = await useWebhookServer(t, fake.runtime);
    const body = githubPush("refs/heads/main");
    const expected = hmacHex(body, SECRET);

    const answer = await post(`${url}/webhooks/github`, githubHeaders(body, "guessed"), body);

    assert.equal(answer.status, 401);
    assert.match(String(answer.body.error), /github push: .*source "infra"/);
    assert.ok(!answer.text.includes(SECRET), "the answer must not carry the secret");
    assert.ok(!answer.text.includes(expected), "the answer must not carry the expected signature");
    assert.deepEqual(fake.refreshed, []);
    assert.equal(fake.events.length, 1);
    assert.equal(fake.events[0]?.type, "webhook-rejected");
    assert.deepEqual(fake.events[0]?.data, {
      source: "infra",
      provider: "github",
      reason: "bad-signature",
      ref: "refs/heads/main",
    });
    const recorded = JSON.stringify({ events: fake.events, logs: fake.logs });
    assert.ok(!recorded.includes(SECRET) && !recorded.includes(expected));
  });

  it("answers 401 to a push without a signature for a source that has a secret", async (t) => {
    const fake = createFakeRuntime([
      { id: "infra", repoUrl: "https://github.com/org/infra", secret: SECRET },
    ]);
    const url = await useWebhookServer(t, fake.runtime);
    const body = githubPush("refs/heads/main");

    const answer = await post(`${url}/webhooks/github`, { "x-github-event": "push" }, body);

    assert.equal(answer.status, 401);
    assert.match(String(answer.body.error), /no X-Hub-Signature-256 header/);
    assert.equal(fake.events[0]?.data?.reason, "missing-signature");
    assert.deepEqual(fake.refreshed, []);
  });

  it("answers 401 to a wrong GitLab token and a wrong Gitea signature", async (t) => {
    const fake = createFakeRuntime([
      { id: "infra", repoUrl: "https://gitlab.example.com/platform/infra", secret: SECRET },
      { id: "fleet", repoUrl: "https://gitea.example.com/ops/fleet", secret: SECRET },
    ]);
    const url = await useWebhookServer(t, fake.runtime);
    const gitlab = gitlabPush("refs/heads/main");
    const gitea = giteaPush("refs/heads/main");

    const fromGitlab = await post(
      `${url}/webhooks/gitlab`,
      { "x-gitlab-event": "Push Hook", "x-gitlab-token": `${SECRET}x` },
      gitlab,
    );
    const fromGitea = await post(
      `${url}/webhooks/gitea`,
      { "x-gitea-event": "push", "x-gitea-signature": hmacHex(gitea, OTHER_SECRET) },
      gitea,
    );

    assert.equal(fromGitlab.status, 401);
    assert.match(String(fromGitlab.body.error), /gitlab push: X-Gitlab-Token .* source "infra"/);
    assert.ok(!fromGitlab.text.includes(SECRET));
    assert.equal(fromGitea.status, 401);
    assert.match(String(fromGitea.body.error), /gitea push: X-Gitea-Signature .* source "fleet"/);
    assert.deepEqual(fake.refreshed, []);
    assert.deepEqual(
      fake.events.map((event) => event.data?.source),
      ["infra", "fleet"],
    );
  });

  it("refreshes the sources whose secret signed the push and reports the others as rejected", async (t) => {
    const fake = createFakeRuntime([
      { id: "apps", repoUrl: "https://github.com/org/infra", secret: SECRET },
      { id: "addons", repoUrl: "https://github.com/org/infra", secret: OTHER_SECRET },
    ]);
    const url = await useWebhookServer(t, fake.runtime);
    const body = githubPush("refs/heads/main");

    const answer = await post(`${url}/webhooks/github`, githubHeaders(body), body);

    assert.equal(answer.status, 202);
    assert.deepEqual(answer.body, {
      refreshing: ["apps"],
      rejected: [{ source: "addons", reason: "bad-signature" }],
    });
    assert.deepEqual(fake.refreshed, ["apps"]);
    assert.deepEqual(fake.events[0]?.data?.source, "addons");
  });

  it("does not refresh a source tracking another branch, nor check signatures for it", async (t) => {
    const fake = createFakeRuntime([
      { id: "release", repoUrl: "https://github.com/org/infra", targetRevision: "release", secret: SECRET },
    ]);
    const url = await useWebhookServer(t, fake.runtime);
    const body = githubPush("refs/heads/feature");

    const answer = await post(`${url}/webhooks/github`, githubHeaders(body, "wrong"), body);

    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body.refreshing, []);
    assert.match(
      String(answer.body.message),
      /^no source matches https:\/\/github\.com\/org\/infra, .* at refs\/heads\/feature$/,
    );
    assert.deepEqual(fake.refreshed, []);
    assert.deepEqual(fake.events, []);
  });

  it("refuses a source without a webhook secret unless unsigned pushes are allowed", async (t) => {
    const sources = [{ id: "open", repoUrl: "https://github.com/org/infra", secret: null }];
    const strict = createFakeRuntime(sources);
    const lenient = createFakeRuntime(sources);
    const strictUrl = await useWebhookServer(t, strict.runtime);
    const lenientUrl = await useWebhookServer(t, lenient.runtime, { allowUnsigned: true });
    const body = githubPush("refs/heads/main");

    const refused = await post(`${strictUrl}/webhooks/github`, { "x-github-event": "push" }, body);
    const accepted = await post(`${lenientUrl}/webhooks/github`, { "x-github-event": "push" }, body);

    assert.equal(refused.status, 403);
    assert.match(String(refused.body.error), /source "open" has no webhook secret configured/);
    assert.deepEqual(strict.refreshed, []);
    assert.equal(strict.events[0]?.data?.reason, "no-webhook-secret");
    assert.equal(accepted.status, 202);
    assert.deepEqual(lenient.refreshed, ["open"]);
  });

  it("answers 202 without waiting for the refresh, and logs a refresh that fails", async (t) => {
    let failRefresh: (error: Error) => void = () => {};
    const fake = createFakeRuntime(
      [{ id: "infra", repoUrl: "https://github.com/org/infra", secret: SECRET }],
      () =>
        new Promise((_resolve, reject) => {
          failRefresh = reject;
        }),
    );
    const url = await useWebhookServer(t, fake.runtime);
    const body = githubPush("refs/heads/main");

    const answer = await post(`${url}/webhooks/github`, githubHeaders(body), body);
    assert.equal(answer.status, 202);
    assert.deepEqual(fake.refreshed, ["infra"]);

    const logged = fake.nextLog("warn");
    failRefresh(new Error('source "infra": fetch failed'));
    const record = await logged;
    assert.equal(record.message, "webhook refresh failed");
    assert.equal(record.fields.source, "infra");
  });

  it("answers 413 to a body over the limit, declared or streamed", async (t) => {
    const fake = createFakeRuntime([
      { id: "infra", repoUrl: "https://github.com/org/infra", secret: SECRET },
    ]);
    const url = await useWebhookServer(t, fake.runtime, { maxBodyBytes: 1024 });
    const big = JSON.stringify({ padding: "x".repeat(4096) });

    const declared = await post(`${url}/webhooks/github`, githubHeaders(big), big);
    const streamed = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        `${url}/webhooks/github`,
        { method: "POST", headers: { ...githubHeaders(big), "transfer-encoding": "chunked" } },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            text += chunk;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on("error", reject);
      req.setTimeout(DEADLINE_MS, () => req.destroy(new Error(`no answer within ${DEADLINE_MS} ms`)));
      req.write(big.slice(0, 1000));
      req.write(big.slice(1000, 2000));
      req.end(big.slice(2000));
    });

    assert.equal(declared.status, 413);
    assert.match(String(declared.body.error), /github webhook: body larger than 1024 bytes/);
    assert.equal(streamed.status, 413);
    assert.deepEqual(fake.refreshed, []);
  });

  it("answers a GitHub ping with 200 and ignores other events", async (t) => {
    const fake = createFakeRuntime([
      { id: "infra", repoUrl: "https://github.com/org/infra", secret: SECRET },
    ]);
    const url = await useWebhookServer(t, fake.runtime);
    const ping = JSON.stringify({ zen: "Keep it logically awesome.", hook_id: 1 });
    const issue = JSON.stringify({ action: "opened" });

    const pong = await post(`${url}/webhooks/github`, githubHeaders(ping, SECRET, "ping"), ping);
    const ignored = await post(`${url}/webhooks/github`, githubHeaders(issue, SECRET, "issues"), issue);

    assert.equal(pong.status, 200);
    assert.equal(pong.body.message, "github ping received");
    assert.equal(ignored.status, 200);
    assert.match(String(ignored.body.message), /github event "issues" ignored/);
    assert.deepEqual(fake.refreshed, []);
  });

  it("answers 404 for an unknown provider, 405 for GET, 400 for malformed JSON or a missing event header", async (t) => {
    const fake = createFakeRuntime([
      { id: "infra", repoUrl: "https://github.com/org/infra", secret: SECRET },
    ]);
    const url = await useWebhookServer(t, fake.runtime);

    const unknown = await post(`${url}/webhooks/bitbucket`, {}, "{}");
    const get = await fetch(`${url}/webhooks/github`, { signal: AbortSignal.timeout(DEADLINE_MS) });
    const malformed = await post(`${url}/webhooks/github`, githubHeaders("{not json"), "{not json");
    const noEvent = await post(`${url}/webhooks/gitea`, {}, giteaPush("refs/heads/main"));

    assert.equal(unknown.status, 404);
    assert.match(String(unknown.body.error), /no webhook endpoint \/webhooks\/bitbucket/);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");
    assert.match(
      String(((await get.json()) as { error: string }).error),
      /github webhook: method GET not allowed/,
    );
    assert.equal(malformed.status, 400);
    assert.match(String(malformed.body.error), /^github push: body is not JSON/);
    assert.equal(noEvent.status, 400);
    assert.match(String(noEvent.body.error), /gitea webhook: missing X-Gitea-Event header/);
    assert.deepEqual(fake.refreshed, []);
  });

  it("accepts GitHub's form-encoded payload, signed over the raw form body", async (t) => {
    const fake = createFakeRuntime([
      { id: "infra", repoUrl: "https://github.com/org/infra", secret: SECRET },
    ]);
    const url = await useWebhookServer(t, fake.runtime);
    const body = new URLSearchParams({ payload: githubPush("refs/heads/main") }).toString();

    const answer = await post(
      `${url}/webhooks/github`,
      { ...githubHeaders(body), "content-type": "application/x-www-form-urlencoded" },
      body,
    );

    assert.equal(answer.status, 202);
    assert.deepEqual(fake.refreshed, ["infra"]);
  });
});

describe("tracksRef", () => {
  it("tracks every branch push for HEAD or an empty revision, but no tag push", () => {
    assert.equal(tracksRef("HEAD", "refs/heads/feature"), true);
    assert.equal(tracksRef("", "refs/heads/main"), true);
    assert.equal(tracksRef("HEAD", "refs/tags/v1"), false);
  });

  it("tracks a push when the revision is the short name or the full ref", () => {
    assert.equal(tracksRef("main", "refs/heads/main"), true);
    assert.equal(tracksRef("refs/heads/main", "refs/heads/main"), true);
    assert.equal(tracksRef("v1.0.0", "refs/tags/v1.0.0"), true);
    assert.equal(tracksRef("refs/tags/v1.0.0", "refs/tags/v1.0.0"), true);
    assert.equal(tracksRef("main", "refs/heads/main-2"), false);
    assert.equal(tracksRef("refs/tags/main", "refs/heads/main"), false);
  });
});

describe("readPushEvent", () => {
  it("says which fields are missing", () => {
    assert.deepEqual(readPushEvent("gitea", { ref: "refs/heads/main" }), {
      error: "payload has no repository URL (repository.html_url, repository.clone_url, repository.ssh_url)",
    });
    assert.deepEqual(
      readPushEvent("github", JSON.parse(githubPush("refs/heads/main").replace('"ref"', '"reff"'))),
      {
        error: "payload has no ref (refs/heads/... or refs/tags/...)",
      },
    );
    assert.deepEqual(readPushEvent("gitlab", []), { error: "payload is not a JSON object" });
  });
});
