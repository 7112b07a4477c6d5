import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { generateToken, hashSecret, parseToken, redact, type TokenKind, verifySecret } from "./tokens.js";

const kinds: TokenKind[] = ["bootstrap", "cluster", "api"];

describe("generateToken", () => {
  it("makes tokens with the kind's prefix, a kubeadm-shaped id and a 32-character secret", () => {
    assert.match(generateToken("bootstrap"), /^flb_[a-z0-9]{6}\.[a-z0-9]{32}$/);
    assert.match(generateToken("cluster"), /^flc_[a-z0-9]{12}\.[a-z0-9]{32}$/);
    assert.match(generateToken("api"), /^fla_[a-z0-9]{12}\.[a-z0-9]{32}$/);
  });

  it("parses back to its own kind", () => {
    for (const kind of kinds) assert.equal(parseToken(generateToken(kind))?.kind, kind);
  });

  it("does not repeat itself", () => {
    const tokens = new Set(Array.from({ length: 1000 }, () => generateToken("bootstrap")));
    assert.equal(tokens.size, 1000);
  });
});

describe("parseToken", () => {
  const secret = "0123456789abcdefghijklmnopqrstuv";

  it("splits kind, id and secret", () => {
    assert.deepEqual(parseToken(`flb_abc123.${secret}`), { kind: "bootstrap", id: "abc123", secret });
    assert.deepEqual(parseToken(`flc_abcdef123456.${secret}`), {
      kind: "cluster",
      id: "abcdef123456",
      secret,
    });
    assert.deepEqual(parseToken(`fla_abcdef123456.${secret}`), { kind: "api", id: "abcdef123456", secret });
  });

  it("ignores surrounding whitespace, as read from a token file", () => {
    assert.equal(parseToken(`  flb_abc123.${secret}\n`)?.id, "abc123");
  });

  it("accepts secrets of 16 to 64 characters", () => {
    assert.equal(parseToken("flb_abc123.0123456789abcdef")?.secret, "0123456789abcdef");
    assert.equal(parseToken(`flb_abc123.${"a".repeat(64)}`)?.kind, "bootstrap");
  });

  const malformed = [
    "",
    `abc123.${secret}`, // kubeadm's bare form has no prefix
    `flx_abc123.${secret}`,
    `flb_abc12.${secret}`, // id too short for a bootstrap token
    `flb_abcdef123456.${secret}`, // a cluster-length id on a bootstrap token
    `flc_abc123.${secret}`,
    `flb_ABC123.${secret}`,
    `flb_abc123.${secret.toUpperCase()}`,
    "flb_abc123.0123456789abcde", // 15
    `flb_abc123.${"a".repeat(65)}`,
    `flb_abc123${secret}`,
    `flb_abc123.${secret} extra`,
    `Bearer flb_abc123.${secret}`,
  ];
  for (const text of malformed) {
    it(`refuses ${JSON.stringify(text)}`, () => assert.equal(parseToken(text), undefined));
  }
});

describe("hashSecret and verifySecret", () => {
  it("hashes with SHA-256 to lowercase hex", () => {
    const expected = createHash("sha256").update("s3cret").digest("hex");
    assert.equal(hashSecret("s3cret"), expected);
    assert.match(hashSecret("s3cret"), /^[0-9a-f]{64}$/);
  });

  it("verifies the right secret and refuses any other", () => {
    const { secret } = parseToken(generateToken("cluster")) ?? assert.fail("token did not parse");
    const hash = hashSecret(secret);
    assert.equal(verifySecret(secret, hash), true);
    assert.equal(verifySecret(`${secret}x`, hash), false);
    assert.equal(verifySecret("", hash), false);
  });

  it("accepts an uppercase stored hash and never matches a malformed one", () => {
    assert.equal(verifySecret("a", hashSecret("a").toUpperCase()), true);
    assert.equal(verifySecret("a", ""), false);
    assert.equal(verifySecret("a", hashSecret("a").slice(1)), false);
    assert.equal(verifySecret("a", `${hashSecret("a").slice(1)}z`), false);
  });
});

describe("redact", () => {
  it("hides every token in a text and keeps the rest", () => {
    const [bootstrap, cluster] = [generateToken("bootstrap"), generateToken("cluster")];
    assert.equal(
      redact(`token ${bootstrap} refused; credential=${cluster}, header "Bearer ${generateToken("api")}"`),
      'token <redacted> refused; credential=<redacted>, header "Bearer <redacted>"',
    );
  });

  it("hides malformed, truncated and upper-cased tokens too", () => {
    assert.equal(redact("flb_abc.123 FLC_ABCDEF.X fla_a.b"), "<redacted> <redacted> <redacted>");
  });

  it("hides a token inside a URL or after an underscore", () => {
    assert.equal(redact("https://hub/?t=flb_abc123.abcdefabcdefabcd"), "https://hub/?t=<redacted>");
    assert.equal(redact("TOKEN_flb_abc123.abcdefabcdefabcd"), "TOKEN_<redacted>");
  });

  it("leaves text without tokens alone", () => {
    const text = "cluster prod-eu: registered; myflb_x.y stays; flb_ alone; sha256:abcd";
    assert.equal(redact(text), text);
  });
});
