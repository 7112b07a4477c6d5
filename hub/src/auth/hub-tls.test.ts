import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, get } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { connect } from "node:tls";
import {
  CA_COMMON_NAME,
  CA_VALIDITY_MS,
  caHashOf,
  ensureHubTls,
  loadHubTls,
  SERVING_CERT_VALIDITY_MS,
  verifyCaHash,
} from "./hub-tls.js";

const DAY_MS = 24 * 60 * 60 * 1000;
const hosts = ["localhost", "127.0.0.1", "::1", "hub.example.internal"];
const start = new Date("2030-01-15T12:00:00Z");

async function useDataDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-hub-tls-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return join(dir, "data"); // not created yet: ensureHubTls makes it
}

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

function openssl(args: string[], input: string | Buffer): Buffer | undefined {
  try {
    return execFileSync("openssl", args, { input, stdio: ["pipe", "pipe", "ignore"] });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

describe("ensureHubTls", () => {
  it("creates a CA and a serving certificate it signed on first start", async (t) => {
    const dir = await useDataDir(t);
    const tls = await ensureHubTls(dir, { hosts, now: start });
    assert.equal(tls.issued, "ca-and-serving-cert");
    assert.equal(tls.caCertPath, join(dir, "ca.crt"));

    const ca = new X509Certificate(tls.caCertPem);
    const cert = new X509Certificate(tls.certPem);
    assert.equal(ca.subject, `CN=${CA_COMMON_NAME}`);
    assert.equal(ca.ca, true);
    assert.equal(ca.verify(ca.publicKey), true, "the CA is self-signed");
    assert.equal(cert.ca, false);
    assert.equal(cert.checkIssued(ca), true);
    assert.equal(cert.verify(ca.publicKey), true, "the serving certificate is signed by the CA key");
    assert.equal(ca.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.equal(cert.keyUsage?.includes("1.3.6.1.5.5.7.3.1"), true, "extended key usage serverAuth");

    assert.equal(
      cert.subjectAltName,
      "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:hub.example.internal",
    );
    assert.equal(cert.checkHost("hub.example.internal", { subject: "never" }), "hub.example.internal");
    assert.equal(cert.checkIP("::1"), "::1");
    assert.equal(cert.checkHost("other.example", { subject: "never" }), undefined);

    const notBefore = start.getTime() - 5 * 60 * 1000;
    assert.equal(Date.parse(ca.validFrom), notBefore);
    assert.equal(Date.parse(ca.validTo), start.getTime() + CA_VALIDITY_MS);
    assert.equal(Date.parse(cert.validFrom), notBefore);
    assert.equal(Date.parse(cert.validTo), start.getTime() + SERVING_CERT_VALIDITY_MS);

    assert.equal(await readFile(join(dir, "ca.crt"), "utf8"), tls.caCertPem);
    assert.equal(await readFile(join(dir, "tls.crt"), "utf8"), tls.certPem);
    assert.equal(await readFile(join(dir, "tls.key"), "utf8"), tls.keyPem);
    assert.match(tls.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  });

  it("writes the private keys with mode 0600 and the data dir with 0700", async (t) => {
    const dir = await useDataDir(t);
    await ensureHubTls(dir, { hosts, now: start });
    assert.equal(await modeOf(join(dir, "ca.key")), 0o600);
    assert.equal(await modeOf(join(dir, "tls.key")), 0o600);
    assert.equal(await modeOf(join(dir, "ca.crt")), 0o644);
    assert.equal(await modeOf(dir), 0o700);
  });

  it("loads what it made on the next start and changes nothing", async (t) => {
    const dir = await useDataDir(t);
    const first = await ensureHubTls(dir, { hosts, now: start });
    const second = await ensureHubTls(dir, {
      hosts: ["LOCALHOST", "127.0.0.1"],
      now: new Date(start.getTime() + 100 * DAY_MS),
    });
    assert.equal(second.issued, "none");
    assert.deepEqual({ ...second, issued: first.issued }, first);
  });

  it("re-issues the serving certificate for a new host and keeps the CA", async (t) => {
    const dir = await useDataDir(t);
    const first = await ensureHubTls(dir, { hosts, now: start });
    const second = await ensureHubTls(dir, { hosts: [...hosts, "10.0.0.7", "hub-2"], now: start });
    assert.equal(second.issued, "serving-cert");
    assert.equal(second.caCertPem, first.caCertPem);
    assert.equal(second.caHash, first.caHash);
    assert.notEqual(second.keyPem, first.keyPem);
    const cert = new X509Certificate(second.certPem);
    assert.equal(cert.checkIP("10.0.0.7"), "10.0.0.7");
    assert.equal(cert.checkHost("hub-2", { subject: "never" }), "hub-2");
    assert.equal(cert.verify(new X509Certificate(first.caCertPem).publicKey), true);
    assert.equal(await readFile(join(dir, "tls.crt"), "utf8"), second.certPem);
  });

  it("re-issues a serving certificate that expires within 30 days, and not one that expires later", async (t) => {
    const dir = await useDataDir(t);
    const first = await ensureHubTls(dir, { hosts, now: start });
    const at334Days = await ensureHubTls(dir, { hosts, now: new Date(start.getTime() + 334 * DAY_MS) });
    assert.equal(at334Days.issued, "none");
    const renewedAt = new Date(start.getTime() + 336 * DAY_MS);
    const at336Days = await ensureHubTls(dir, { hosts, now: renewedAt });
    assert.equal(at336Days.issued, "serving-cert");
    assert.equal(at336Days.caHash, first.caHash);
    assert.equal(
      Date.parse(new X509Certificate(at336Days.certPem).validTo),
      renewedAt.getTime() + SERVING_CERT_VALIDITY_MS,
    );
  });

  it("never issues a serving certificate that outlives the CA", async (t) => {
    const dir = await useDataDir(t);
    const first = await ensureHubTls(dir, { hosts, now: start });
    const late = await ensureHubTls(dir, {
      hosts,
      now: new Date(start.getTime() + CA_VALIDITY_MS - 100 * DAY_MS),
    });
    assert.equal(late.caHash, first.caHash);
    assert.equal(new X509Certificate(late.certPem).validTo, new X509Certificate(first.caCertPem).validTo);
  });

  it("replaces a serving key that does not match its certificate", async (t) => {
    const dir = await useDataDir(t);
    await ensureHubTls(dir, { hosts, now: start });
    const stranger = await ensureHubTls(await useDataDir(t), { hosts, now: start });
    await writeFile(join(dir, "tls.key"), stranger.keyPem);
    const second = await ensureHubTls(dir, { hosts, now: start });
    assert.equal(second.issued, "serving-cert");
    assert.equal(new X509Certificate(second.certPem).checkPrivateKey(createPrivateKey(second.keyPem)), true);
  });

  it("replaces an unreadable serving certificate", async (t) => {
    const dir = await useDataDir(t);
    await ensureHubTls(dir, { hosts, now: start });
    await writeFile(join(dir, "tls.crt"), "garbage");
    assert.equal((await ensureHubTls(dir, { hosts, now: start })).issued, "serving-cert");
  });

  it("replaces a serving certificate signed by another CA", async (t) => {
    const dir = await useDataDir(t);
    const first = await ensureHubTls(dir, { hosts, now: start });
    const other = await ensureHubTls(await useDataDir(t), { hosts, now: start });
    await writeFile(join(dir, "tls.crt"), other.certPem);
    await writeFile(join(dir, "tls.key"), other.keyPem);
    const second = await ensureHubTls(dir, { hosts, now: start });
    assert.equal(second.issued, "serving-cert");
    assert.equal(
      new X509Certificate(second.certPem).verify(new X509Certificate(first.caCertPem).publicKey),
      true,
    );
  });

  it("refuses to start when ca.crt exists without ca.key, rather than replacing a pinned CA", async (t) => {
    const dir = await useDataDir(t);
    await ensureHubTls(dir, { hosts, now: start });
    await rm(join(dir, "ca.key"));
    await assert.rejects(ensureHubTls(dir, { hosts, now: start }), /ca\.crt exists but .*ca\.key does not/);
  });

  it("replaces a ca.key left without its ca.crt by a crash", async (t) => {
    const dir = await useDataDir(t);
    const first = await ensureHubTls(dir, { hosts, now: start });
    await rm(join(dir, "ca.crt"));
    const second = await ensureHubTls(dir, { hosts, now: start });
    assert.equal(second.issued, "ca-and-serving-cert");
    assert.notEqual(second.caHash, first.caHash);
  });

  it("refuses an expired CA with what to do about it", async (t) => {
    const dir = await useDataDir(t);
    await ensureHubTls(dir, { hosts, now: start });
    await assert.rejects(
      ensureHubTls(dir, { hosts, now: new Date(start.getTime() + CA_VALIDITY_MS + DAY_MS) }),
      /the CA expired at .*; remove .*ca\.crt and .*ca\.key to create a new one/,
    );
  });

  it("refuses a host that is neither a DNS name nor an IP, and an empty host list", async (t) => {
    const dir = await useDataDir(t);
    await assert.rejects(ensureHubTls(dir, { hosts: ["https://hub:8443"] }), /neither a DNS name nor an IP/);
    await assert.rejects(ensureHubTls(dir, { hosts: [] }), /at least one host/);
  });
});

describe("caHashOf", () => {
  it("stays the same across restarts and re-issued serving certificates", async (t) => {
    const dir = await useDataDir(t);
    const first = await ensureHubTls(dir, { hosts, now: start });
    const second = await ensureHubTls(dir, { hosts: ["new-host"], now: start });
    assert.match(first.caHash, /^sha256:[0-9a-f]{64}$/);
    assert.equal(second.caHash, first.caHash);
    assert.equal(caHashOf(first.caCertPem), first.caHash);
  });

  it("equals SHA-256 over the CA's DER SubjectPublicKeyInfo as Node exports it", async (t) => {
    const tls = await ensureHubTls(await useDataDir(t), { hosts, now: start });
    const spki = new X509Certificate(tls.caCertPem).publicKey.export({ type: "spki", format: "der" });
    assert.equal(tls.caHash, `sha256:${createHash("sha256").update(spki).digest("hex")}`);
  });

  it("equals the kubeadm recipe run with the openssl CLI", async (t) => {
    const tls = await ensureHubTls(await useDataDir(t), { hosts, now: start });
    const pem = openssl(["x509", "-pubkey", "-noout"], tls.caCertPem);
    if (pem === undefined) return t.skip("openssl is not installed");
    const der = openssl(["pkey", "-pubin", "-outform", "der"], pem) ?? assert.fail("openssl vanished");
    assert.equal(tls.caHash, `sha256:${createHash("sha256").update(der).digest("hex")}`);
  });

  it("hashes the first certificate of a bundle, and the serving certificate hashes differently", async (t) => {
    const tls = await ensureHubTls(await useDataDir(t), { hosts, now: start });
    assert.notEqual(caHashOf(tls.certPem), tls.caHash);
    assert.equal(caHashOf(`${tls.caCertPem}${tls.certPem}`), tls.caHash);
  });

  it("throws on text that is not a certificate", () => {
    assert.throws(() => caHashOf("not a certificate"), /CA certificate: not a PEM certificate/);
  });
});

describe("verifyCaHash", () => {
  it("accepts the CA's own hash, in either case, and refuses others", async (t) => {
    const tls = await ensureHubTls(await useDataDir(t), { hosts, now: start });
    assert.equal(verifyCaHash(tls.caCertPem, tls.caHash), true);
    assert.equal(verifyCaHash(tls.caCertPem, tls.caHash.toUpperCase().replace("SHA256", "sha256")), true);
    assert.equal(verifyCaHash(tls.caCertPem, caHashOf(tls.certPem)), false);
    assert.equal(verifyCaHash(tls.caCertPem, tls.caHash.slice("sha256:".length)), false, "prefix required");
    assert.equal(verifyCaHash(tls.caCertPem, "sha256:abc"), false);
    assert.equal(verifyCaHash(tls.caCertPem, ""), false);
  });
});

describe("loadHubTls", () => {
  async function useOperatorFiles(t: TestContext) {
    const dir = await useDataDir(t);
    const tls = await ensureHubTls(dir, { hosts, now: new Date() });
    return {
      tls,
      dir,
      files: { certFile: join(dir, "tls.crt"), keyFile: join(dir, "tls.key"), caFile: join(dir, "ca.crt") },
    };
  }

  it("loads operator-provided files and hashes their CA", async (t) => {
    const { tls, files } = await useOperatorFiles(t);
    const loaded = await loadHubTls(files);
    assert.deepEqual(loaded, {
      caCertPem: tls.caCertPem,
      certPem: tls.certPem,
      keyPem: tls.keyPem,
      caHash: tls.caHash,
      caCertPath: files.caFile,
    });
  });

  it("accepts a certificate file that carries the CA after the serving certificate", async (t) => {
    const { tls, dir, files } = await useOperatorFiles(t);
    const bundle = join(dir, "bundle.crt");
    await writeFile(bundle, `${tls.certPem}${tls.caCertPem}`);
    assert.equal((await loadHubTls({ ...files, certFile: bundle })).caHash, tls.caHash);
  });

  it("refuses a key that belongs to another certificate", async (t) => {
    const { files } = await useOperatorFiles(t);
    const other = await useOperatorFiles(t);
    await assert.rejects(
      loadHubTls({ ...files, keyFile: other.files.keyFile }),
      /tls\.key: the private key does not belong to the certificate/,
    );
  });

  it("refuses a certificate that does not chain to the CA file", async (t) => {
    const { files } = await useOperatorFiles(t);
    const other = await useOperatorFiles(t);
    await assert.rejects(
      loadHubTls({ ...files, caFile: other.files.caFile }),
      /the certificate chain does not lead to the CA/,
    );
  });

  it("refuses an expired certificate", async (t) => {
    const { files } = await useOperatorFiles(t);
    await assert.rejects(
      loadHubTls(files, { now: new Date(Date.now() + 2 * SERVING_CERT_VALIDITY_MS) }),
      /the certificate expired at/,
    );
  });

  it("names a file it cannot read", async (t) => {
    const { files } = await useOperatorFiles(t);
    await assert.rejects(
      loadHubTls({ ...files, caFile: "/nonexistent/ca.crt" }),
      /\/nonexistent\/ca\.crt: cannot read/,
    );
  });
});

describe("a TLS server with the serving certificate", () => {
  async function useHttpsServer(t: TestContext) {
    const tls = await ensureHubTls(await useDataDir(t), { hosts: ["localhost", "127.0.0.1"] });
    const server = createServer({ cert: tls.certPem, key: tls.keyPem }, (_request, response) => {
      response.end("ok");
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    t.after(() => new Promise((done) => server.close(done)));
    return { tls, port: (server.address() as AddressInfo).port };
  }

  function request(url: string, ca?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      get(url, { ca, agent: false }, (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          body += chunk;
        });
        response.on("end", () => resolve(body));
      }).on("error", reject);
    });
  }

  it("is trusted by a client given only ca.crt, by IP and by name", async (t) => {
    const { tls, port } = await useHttpsServer(t);
    const ca = await readFile(tls.caCertPath, "utf8");
    assert.equal(await request(`https://127.0.0.1:${port}/`, ca), "ok");
    const byName = await new Promise<boolean>((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port, servername: "localhost", ca }, () => {
        resolve(socket.authorized);
        socket.end();
      });
      socket.on("error", reject);
    });
    assert.equal(byName, true);
  });

  it("is refused by a client without the CA", async (t) => {
    const { port } = await useHttpsServer(t);
    await assert.rejects(request(`https://127.0.0.1:${port}/`), (error: NodeJS.ErrnoException) => {
      assert.match(error.code ?? "", /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN/);
      return true;
    });
  });

  it("is refused for a name its certificate does not carry", async (t) => {
    const { tls, port } = await useHttpsServer(t);
    const error = await new Promise<Error>((resolve, reject) => {
      const socket = connect(
        { host: "127.0.0.1", port, servername: "elsewhere.example", ca: tls.caCertPem },
        () => {
          socket.end();
          reject(new Error("connected"));
        },
      );
      socket.on("error", resolve);
    });
    assert.equal((error as NodeJS.ErrnoException).code, "ERR_TLS_CERT_ALTNAME_INVALID");
  });
});
