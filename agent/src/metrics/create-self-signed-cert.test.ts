import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { describe, it } from "node:test";
import { createSelfSignedCert } from "./create-self-signed-cert.js";

const DAY_MS = 24 * 3_600_000;

describe("createSelfSignedCert", () => {
  it("makes a certificate for every host, signed by its own key, valid from a little before now", () => {
    const now = new Date("2030-06-01T12:00:00Z");
    const { certPem, keyPem } = createSelfSignedCert({
      hosts: ["localhost", "127.0.0.1", "::1", "agent-7d9f"],
      validityMs: 365 * DAY_MS,
      now,
    });
    const cert = new X509Certificate(certPem);
    assert.equal(cert.subject, "CN=localhost");
    assert.equal(
      cert.subjectAltName,
      "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:agent-7d9f",
    );
    assert.ok(cert.verify(cert.publicKey), "self-signed");
    assert.ok(cert.checkPrivateKey(createPrivateKey(keyPem)));
    assert.equal(new Date(cert.validFrom).getTime(), now.getTime() - 5 * 60_000);
    assert.equal(new Date(cert.validTo).getTime(), now.getTime() + 365 * DAY_MS);
    assert.equal(cert.checkHost("agent-7d9f"), "agent-7d9f");
    assert.equal(cert.checkIP("127.0.0.1"), "127.0.0.1");
    assert.deepEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.1"]);
  });

  it("writes dates past 2049 as GeneralizedTime, which Node still reads", () => {
    const { certPem } = createSelfSignedCert({
      hosts: ["localhost"],
      validityMs: 30 * 365 * DAY_MS,
      now: new Date("2040-01-01T00:00:00Z"),
    });
    assert.equal(new Date(new X509Certificate(certPem).validTo).getUTCFullYear(), 2069);
  });

  it("refuses a host that is neither a DNS name nor an IP address, naming it", () => {
    assert.throws(
      () => createSelfSignedCert({ hosts: ["bad host"], validityMs: DAY_MS }),
      /"bad host" is neither a DNS name nor an IP address/,
    );
    assert.throws(() => createSelfSignedCert({ hosts: [], validityMs: DAY_MS }), /at least one host/);
  });
});
