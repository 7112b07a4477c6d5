import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatJoinCommand, parseJoinCommand } from "./join-command.js";
import { generateToken } from "./tokens.js";

const caHash = `sha256:${"ab".repeat(32)}`;
const token = "flb_abc123.0123456789abcdefghijklmnopqrstuv";

describe("formatJoinCommand", () => {
  it("prints the kubeadm-style line", () => {
    assert.equal(
      formatJoinCommand({ hubUrl: "https://hub.example:8443", token, caHash }),
      `flotilla-agent join --hub https://hub.example:8443 --token ${token} --ca-hash ${caHash}`,
    );
  });

  it("round-trips through parseJoinCommand", () => {
    const join = { hubUrl: "https://[::1]:8443/", token: generateToken("bootstrap"), caHash };
    assert.deepEqual(parseJoinCommand(formatJoinCommand(join)), join);
  });

  it("quotes a URL a shell would split", () => {
    const join = { hubUrl: "https://hub.example/a path?x=1&y='2'", token, caHash };
    const line = formatJoinCommand(join);
    assert.match(line, /--hub 'https:\/\/hub\.example\/a path\?x=1&y='"'"'2'"'"'' --token/);
    assert.deepEqual(parseJoinCommand(line), join);
  });

  it("refuses a plain-http hub, a non-bootstrap token and a malformed hash", () => {
    assert.throws(() => formatJoinCommand({ hubUrl: "http://hub", token, caHash }), /must be an https/);
    assert.throws(() => formatJoinCommand({ hubUrl: "hub:8443", token, caHash }), /must be an https/);
    assert.throws(
      () => formatJoinCommand({ hubUrl: "https://hub", token: generateToken("api"), caHash }),
      /not a bootstrap token/,
    );
    assert.throws(
      () => formatJoinCommand({ hubUrl: "https://hub", token, caHash: "sha256:abc" }),
      /is not sha256:<hex>/,
    );
  });

  it("never puts the token in its error messages", () => {
    assert.throws(
      () => formatJoinCommand({ hubUrl: "http://hub", token, caHash }),
      (error: Error) => !error.message.includes(token),
    );
  });
});

describe("parseJoinCommand", () => {
  it("reads --flag=value and ignores the flags a person adds", () => {
    assert.deepEqual(
      parseJoinCommand(
        `flotilla-agent join --name prod-eu --hub=https://hub --label env=prod --in-cluster --token ${token} --ca-hash=${caHash}`,
      ),
      { hubUrl: "https://hub", token, caHash },
    );
  });

  it("returns undefined for another command, a missing flag or an open quote", () => {
    assert.equal(
      parseJoinCommand(`kubeadm join --hub https://hub --token ${token} --ca-hash ${caHash}`),
      undefined,
    );
    assert.equal(parseJoinCommand(`flotilla-agent join --hub https://hub --token ${token}`), undefined);
    assert.equal(
      parseJoinCommand(`flotilla-agent join --hub 'https://hub --token ${token} --ca-hash x`),
      undefined,
    );
  });
});
