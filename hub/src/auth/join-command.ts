// The one line `flotilla cluster token create` prints, in the shape of `kubeadm join`:
//   flotilla-agent join --hub https://hub.example:8443 --token flb_abc123.<secret> --ca-hash sha256:<hex>
// The person running it adds --name, --kubeconfig or --in-cluster, and --label as they need.

import { parseToken } from "./tokens.js";

export type JoinCommand = { hubUrl: string; token: string; caHash: string };

const CA_HASH = /^sha256:[0-9a-f]{64}$/;
// Characters a POSIX shell passes through unquoted.
const SHELL_SAFE = /^[A-Za-z0-9_.:/@%+=,-]+$/;

function quoteArgument(text: string): string {
  return SHELL_SAFE.test(text) ? text : `'${text.replaceAll("'", `'"'"'`)}'`;
}

/**
 * Formats the join command. Throws when `hubUrl` is not an https URL, `token` is not a bootstrap
 * token or `caHash` is not `sha256:<64 lowercase hex>`: printing an unusable command is a bug.
 */
export function formatJoinCommand({ hubUrl, token, caHash }: JoinCommand): string {
  if (!URL.canParse(hubUrl) || new URL(hubUrl).protocol !== "https:") {
    throw new Error(`join command: hub URL ${JSON.stringify(hubUrl)} must be an https:// URL`);
  }
  if (parseToken(token)?.kind !== "bootstrap")
    throw new Error("join command: token is not a bootstrap token");
  if (!CA_HASH.test(caHash))
    throw new Error(`join command: CA hash ${JSON.stringify(caHash)} is not sha256:<hex>`);
  return ["flotilla-agent", "join", "--hub", hubUrl, "--token", token, "--ca-hash", caHash]
    .map(quoteArgument)
    .join(" ");
}

/** Splits a command line into words: whitespace separates, single and double quotes group, as a shell would for these values. */
function splitWords(line: string): string[] | undefined {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (const char of line) {
    if (quote) {
      if (char === quote) quote = undefined;
      else word += char;
    } else if (char === "'" || char === '"') {
      quote = char;
      word ??= "";
    } else if (/\s/.test(char)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? "") + char;
    }
  }
  if (quote) return undefined;
  if (word !== undefined) words.push(word);
  return words;
}

/**
 * Reads the hub URL, token and CA hash back from a join command (`--flag value` or
 * `--flag=value`; other flags are ignored). Undefined when it is not a `flotilla-agent join`
 * line or one of the three is missing.
 */
export function parseJoinCommand(line: string): JoinCommand | undefined {
  const words = splitWords(line.trim());
  if (words === undefined) return undefined;
  const [program, command] = words;
  if (program !== "flotilla-agent" || command !== "join") return undefined;
  const flags = new Map<string, string>();
  for (let i = 2; i < words.length; i += 1) {
    const word = words[i] as string;
    if (!word.startsWith("--")) continue;
    const equals = word.indexOf("=");
    if (equals > 0) flags.set(word.slice(2, equals), word.slice(equals + 1));
    else if (i + 1 < words.length && !(words[i + 1] as string).startsWith("--")) {
      flags.set(word.slice(2), words[i + 1] as string);
      i += 1;
    }
  }
  const [hubUrl, token, caHash] = [flags.get("hub"), flags.get("token"), flags.get("ca-hash")];
  if (hubUrl === undefined || token === undefined || caHash === undefined) return undefined;
  return { hubUrl, token, caHash };
}
