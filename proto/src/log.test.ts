import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createJsonLogger, describeError, parseLogLevel } from "./log.js";

function useLines() {
  const lines: string[] = [];
  return { lines, write: (line: string) => lines.push(line), parsed: () => lines.map((l) => JSON.parse(l)) };
}

describe("createJsonLogger", () => {
  it("writes one JSON object per line with time, level, msg and the fields", () => {
    const out = useLines();
    createJsonLogger({ write: out.write })("info", "agent running", { apps: 3, hub: "https://hub:8443" });
    assert.equal(out.lines.length, 1);
    assert.ok(out.lines[0]?.endsWith("}\n"));
    const [entry] = out.parsed();
    assert.match(entry.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(
      { ...entry, time: undefined },
      {
        time: undefined,
        level: "info",
        msg: "agent running",
        apps: 3,
        hub: "https://hub:8443",
      },
    );
  });

  it("drops entries below its level", () => {
    const out = useLines();
    const log = createJsonLogger({ level: "warn", write: out.write });
    log("debug", "a");
    log("info", "b");
    log("warn", "c");
    log("error", "d");
    assert.deepEqual(
      out.parsed().map((entry) => entry.msg),
      ["c", "d"],
    );
  });

  it("writes an Error field as its cause chain and redacts the message and string fields", () => {
    const out = useLines();
    const log = createJsonLogger({
      write: out.write,
      redact: (text) => text.replaceAll("s3cret", "<redacted>"),
    });
    const error = new Error("dial failed", { cause: new Error("token s3cret refused") });
    log("error", "connect with s3cret", { error, note: "s3cret", count: 1 });
    assert.deepEqual(out.parsed()[0], {
      time: out.parsed()[0].time,
      level: "error",
      msg: "connect with <redacted>",
      error: "dial failed: token <redacted> refused",
      note: "<redacted>",
      count: 1,
    });
  });
});

describe("parseLogLevel", () => {
  it("takes any case, defaults to info and names the setting of a bad level", () => {
    assert.equal(parseLogLevel(undefined, "x"), "info");
    assert.equal(parseLogLevel("DEBUG", "x"), "debug");
    assert.throws(
      () => parseLogLevel("loud", "--log-level"),
      /--log-level: log level must be debug, info, warn or error, not "loud"/,
    );
  });
});

describe("describeError", () => {
  it("joins messages of the cause chain without repeating a message that contains the next", () => {
    const inner = new Error("ECONNREFUSED");
    assert.equal(
      describeError(new Error("dial hub: ECONNREFUSED", { cause: inner })),
      "dial hub: ECONNREFUSED",
    );
    assert.equal(describeError(new Error("outer", { cause: "text cause" })), "outer: text cause");
  });
});
