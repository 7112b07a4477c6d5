import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadKubeConfig } from "./load-kube-config.js";

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    "current-context": "main",
    contexts: [
      { name: "main", context: { cluster: "c1", user: "u1" } },
      { name: "other", context: { cluster: "c2", user: "u1" } },
    ],
    clusters: [
      { name: "c1", cluster: { server: "https://10.0.0.1:6443/prefix/", ...cluster } },
      { name: "c2", cluster: { server: "https://10.0.0.2:6443" } },
    ],
    users: [{ name: "u1", user }],
  });
}

describe("loadKubeConfig", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "flotilla-kubeconfig-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads the current context's server, cluster name and bearer token", async () => {
    const config = loadKubeConfig({ kubeconfigText: kubeconfig({ token: "t0ken" }) });
    assert.equal(config.server, "https://10.0.0.1:6443/prefix");
    assert.equal(config.clusterName, "c1");
    assert.equal(config.context, "main");
    const { tls, credentials } = await config.connect();
    assert.deepEqual(await credentials(), { authorization: "Bearer t0ken" });
    assert.equal(tls.ca, undefined);
  });

  it("uses the context asked for", () => {
    const config = loadKubeConfig({ kubeconfigText: kubeconfig({}), context: "other" });
    assert.equal(config.server, "https://10.0.0.2:6443");
    assert.equal(config.clusterName, "c2");
  });

  it("reads CA and client certificate files relative to the kubeconfig, and inline data", async () => {
    await writeFile(join(dir, "ca.crt"), "CA PEM");
    await writeFile(join(dir, "client.crt"), "CERT PEM");
    const path = join(dir, "files.yaml");
    await writeFile(
      path,
      kubeconfig(
        { "client-certificate": "client.crt", "client-key-data": Buffer.from("KEY PEM").toString("base64") },
        {
          "certificate-authority": "ca.crt",
          "tls-server-name": "kubernetes",
          "insecure-skip-tls-verify": true,
        },
      ),
    );
    const { tls, credentials } = await loadKubeConfig({ kubeconfigPath: path }).connect();
    assert.equal(tls.ca?.toString(), "CA PEM");
    assert.equal(tls.cert?.toString(), "CERT PEM");
    assert.equal(tls.key?.toString(), "KEY PEM");
    assert.equal(tls.servername, "kubernetes");
    assert.equal(tls.rejectUnauthorized, false);
    assert.deepEqual(await credentials(), {});
  });

  it("sends basic auth as a header", async () => {
    const { credentials } = await loadKubeConfig({
      kubeconfigText: kubeconfig({ username: "admin", password: "pw" }),
    }).connect();
    assert.deepEqual(await credentials(), {
      authorization: `Basic ${Buffer.from("admin:pw").toString("base64")}`,
    });
  });

  it("reads a token file and reads it again once a minute, as bound tokens rotate", async (t) => {
    const tokenFile = join(dir, "token");
    await writeFile(tokenFile, "first\n");
    t.mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
    const { credentials } = await loadKubeConfig({ kubeconfigText: kubeconfig({ tokenFile }) }).connect();
    assert.deepEqual(await credentials(), { authorization: "Bearer first" });
    await writeFile(tokenFile, "second\n");
    assert.deepEqual(await credentials(), { authorization: "Bearer first" }, "cached within the minute");
    t.mock.timers.tick(61_000);
    assert.deepEqual(await credentials(), { authorization: "Bearer second" });
  });

  it("loads the pod's ServiceAccount with its CA and token", async () => {
    const sa = join(dir, "sa");
    await rm(sa, { recursive: true, force: true });
    await import("node:fs/promises").then((fs) => fs.mkdir(sa));
    await writeFile(join(sa, "ca.crt"), "SA CA");
    await writeFile(join(sa, "token"), "sa-token");
    const config = loadKubeConfig(
      { inCluster: true, serviceAccountDir: sa },
      { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" },
    );
    assert.equal(config.server, "https://[fd00::1]", "443 is the default port");
    assert.equal(config.clusterName, undefined);
    const { tls, credentials } = await config.connect();
    assert.equal(tls.ca?.toString(), "SA CA");
    assert.deepEqual(await credentials(), { authorization: "Bearer sa-token" });
    assert.throws(() => loadKubeConfig({ inCluster: true, serviceAccountDir: sa }, {}), {
      message: /KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set/,
    });
  });

  it("gets exec plugin credentials through @kubernetes/client-node", async () => {
    const plugin = join(dir, "plugin.mjs");
    await writeFile(
      plugin,
      `#!${process.execPath}\nprocess.stdout.write(JSON.stringify({ apiVersion: "client.authentication.k8s.io/v1", kind: "ExecCredential", status: { token: "from-exec" } }));\n`,
    );
    await chmod(plugin, 0o755);
    const { credentials } = await loadKubeConfig({
      kubeconfigText: kubeconfig({
        exec: { apiVersion: "client.authentication.k8s.io/v1", command: plugin, interactiveMode: "Never" },
      }),
    }).connect();
    assert.deepEqual(await credentials(), { authorization: "Bearer from-exec" });
  });

  it("refuses what it cannot use, naming the cause and never quoting the file", () => {
    assert.throws(
      () => loadKubeConfig({ kubeconfigText: "users:\n- user: {token: secret-token\n" }),
      (error: Error) => {
        assert.match(error.message, /^kubeconfig text: not a valid kubeconfig/);
        assert.doesNotMatch(error.message, /secret-token/);
        return true;
      },
    );
    assert.throws(() => loadKubeConfig({ kubeconfigText: kubeconfig({}), context: "nope" }), {
      message: 'kubeconfig text: no context "nope"',
    });
    assert.throws(() => loadKubeConfig({ kubeconfigText: kubeconfig({}, { server: "ftp://x" }) }), {
      message: 'kubeconfig text: cluster "c1": server must be https:// or http://',
    });
    assert.throws(() => loadKubeConfig({ kubeconfigText: kubeconfig({}, { "proxy-url": "http://proxy" }) }), {
      message: 'kubeconfig text: cluster "c1": proxy-url is not supported',
    });
    assert.throws(() => loadKubeConfig({ kubeconfigPath: join(dir, "missing") }), {
      message: `kubeconfig ${join(dir, "missing")}: cannot read (ENOENT)`,
    });
  });
});
