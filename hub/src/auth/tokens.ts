// The hub's bearer secrets and how they are stored. Every token reads `<prefix>_<id>.<secret>`,
// the kubeadm bootstrap-token shape with a prefix so people, logs and secret scanners can tell
// what a string is:
//
//   kind       prefix  id                 secret             use
//   bootstrap  flb_    6 of [a-z0-9]      32 of [a-z0-9]     one join command (`--token`), short-lived
//   cluster    flc_    12 of [a-z0-9]     32 of [a-z0-9]     an agent's credential after Register
//   api        fla_    12 of [a-z0-9]     32 of [a-z0-9]     people, the CLI and the UI (admin.token)
//
// The id is not secret: it is the lookup key in the store and may be shown (`token list`). The
// secret is 32 characters of a 36-letter alphabet, about 165 bits, and only its hash is stored.
// Bootstrap ids keep kubeadm's 6 characters; cluster and API ids are longer because there are
// many of them and they live long (fewer id collisions to retry). Lowercase only, so a token
// survives case-folding and is easy to read aloud.

import { createHash, randomInt, timingSafeEqual } from "node:crypto";

export type TokenKind = "bootstrap" | "cluster" | "api";

export type ParsedToken = { kind: TokenKind; id: string; secret: string };

export const TOKEN_PREFIX = { bootstrap: "flb", cluster: "flc", api: "fla" } as const satisfies Record<
  TokenKind,
  string
>;

const ID_LENGTH: Record<TokenKind, number> = { bootstrap: 6, cluster: 12, api: 12 };
const SECRET_LENGTH = 32;
const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

const KIND_BY_PREFIX = new Map(
  (Object.entries(TOKEN_PREFIX) as [TokenKind, string][]).map(([kind, prefix]) => [prefix, kind]),
);

// Secrets of 16 to 64 characters are accepted so a hand-made kubeadm-length secret still parses;
// generated ones are always 32.
const TOKEN = /^(flb|flc|fla)_([a-z0-9]+)\.([a-z0-9]{16,64})$/;

// Anything shaped like a token, however mangled its case or length, so a truncated or
// mistyped token in an error message is hidden too. Not preceded by a letter or digit, so a
// word that merely ends in "flb" is left alone.
const TOKEN_LIKE = /(?<![A-Za-z0-9])fl[bca]_[A-Za-z0-9]+\.[A-Za-z0-9]+/gi;

function randomText(length: number): string {
  let text = "";
  // randomInt draws uniformly (rejection sampling), so no letter is more likely than another.
  for (let i = 0; i < length; i += 1) text += ALPHABET[randomInt(ALPHABET.length)];
  return text;
}

/** A new random token of `kind`, e.g. `flb_k3x9q2.<32 characters>`. */
export function generateToken(kind: TokenKind): string {
  return `${TOKEN_PREFIX[kind]}_${randomText(ID_LENGTH[kind])}.${randomText(SECRET_LENGTH)}`;
}

/** Splits a token into kind, id and secret; undefined when `text` (trimmed) is not a well-formed token. */
export function parseToken(text: string): ParsedToken | undefined {
  const match = TOKEN.exec(text.trim());
  if (!match) return undefined;
  const [, prefix, id, secret] = match as unknown as [string, string, string, string];
  const kind = KIND_BY_PREFIX.get(prefix);
  if (kind === undefined || id.length !== ID_LENGTH[kind]) return undefined;
  return { kind, id, secret };
}

/**
 * The stored form of a secret: SHA-256, lowercase hex. A fast unsalted hash is enough here (and
 * a slow one like bcrypt or scrypt would only cost CPU on every agent connect and API call):
 * the secrets are generated with about 165 bits of entropy, so there is no dictionary to try and
 * brute force of the hash is infeasible; salting defends against precomputed tables of likely
 * passwords, which do not exist for random strings.
 */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** Whether `secret` hashes to `hash` (from hashSecret), compared in constant time. A malformed hash never matches. */
export function verifySecret(secret: string, hash: string): boolean {
  if (!/^[0-9a-f]{64}$/i.test(hash)) return false;
  const expected = Buffer.from(hash, "hex");
  const actual = createHash("sha256").update(secret, "utf8").digest();
  return timingSafeEqual(actual, expected);
}

/** `text` with every token-looking substring (`flb_…`, `flc_…`, `fla_…` with an id and a secret) replaced by `<redacted>`. */
export function redact(text: string): string {
  return text.replace(TOKEN_LIKE, "<redacted>");
}
