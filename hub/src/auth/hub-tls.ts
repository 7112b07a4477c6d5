// The hub's TLS material. Embedded default: a self-signed CA made on first start and a serving
// certificate it signs, kept in the data dir; the join command pins the CA by the hash of its
// public key, as `kubeadm join --discovery-token-ca-cert-hash` does. Scaled out: files the
// operator provides (cert-manager's tls.crt, tls.key and ca.crt, for instance).

import {
  createHash,
  createPrivateKey,
  randomBytes,
  timingSafeEqual,
  type webcrypto,
  X509Certificate,
} from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join, resolve } from "node:path";

export const CA_CERT_FILE = "ca.crt";
export const CA_KEY_FILE = "ca.key";
export const TLS_CERT_FILE = "tls.crt";
export const TLS_KEY_FILE = "tls.key";

const DAY_MS = 24 * 60 * 60 * 1000;
export const CA_VALIDITY_MS = 3650 * DAY_MS;
export const SERVING_CERT_VALIDITY_MS = 365 * DAY_MS;
/** A serving certificate that expires within this is re-issued on start. */
export const SERVING_CERT_RENEW_BEFORE_MS = 30 * DAY_MS;
// Backdate notBefore so a peer whose clock is a little behind still accepts a fresh certificate.
const CLOCK_SKEW_MS = 5 * 60 * 1000;

export const CA_COMMON_NAME = "flotilla-hub-ca";
const SERVING_COMMON_NAME = "flotilla-hub";

export type HubTls = {
  caCertPem: string;
  /** The serving certificate, followed by any intermediates (operator-provided files only). */
  certPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
  /** `sha256:<64 hex>` over the CA certificate's DER SubjectPublicKeyInfo (kubeadm's CA cert hash). */
  caHash: string;
  /** Absolute path of the CA certificate, for `FLOTILLA_CA` and the agent chart. */
  caCertPath: string;
};

export type EnsuredHubTls = HubTls & {
  /** What this start created: both (first start), only the serving certificate, or nothing. */
  issued: "ca-and-serving-cert" | "serving-cert" | "none";
};

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

type X509Module = typeof import("@peculiar/x509");
let x509Module: Promise<X509Module> | undefined;

// @peculiar/x509 registers its algorithms with tsyringe, which needs the Reflect metadata API:
// load the reflect-metadata polyfill first, then x509 (hence the dynamic imports).
function loadX509(): Promise<X509Module> {
  x509Module ??= (async () => {
    await import("reflect-metadata");
    const x509 = await import("@peculiar/x509");
    x509.cryptoProvider.set(globalThis.crypto);
    return x509;
  })();
  return x509Module;
}

/**
 * Makes sure `dataDir` holds a CA and a serving certificate for `hosts`, and returns them.
 * - No `ca.crt`: creates a CA (ECDSA P-256, 10 years, CN flotilla-hub-ca) and writes `ca.key`
 *   (0600) then `ca.crt`. An existing CA is never replaced: agents pin its hash.
 * - The serving certificate (ECDSA P-256, 1 year, SANs = `hosts`, never past the CA) is issued
 *   when `tls.crt`/`tls.key` are missing, do not match each other or the CA, lack one of `hosts`,
 *   or expire within 30 days of `now`. `tls.key` is written with mode 0600.
 * `hosts` are DNS names and IP addresses (v4 or v6); the first must be present. Files are
 * written to a temporary name and renamed, so a crash leaves the old or the new file.
 * Throws when `ca.crt` exists without a usable `ca.key`, when the CA has expired, or on a bad host.
 */
export async function ensureHubTls(
  dataDir: string,
  options: { hosts: readonly string[]; now?: Date },
): Promise<EnsuredHubTls> {
  const now = options.now ?? new Date();
  const hosts = normalizeHosts(options.hosts);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const paths = {
    caCert: join(dataDir, CA_CERT_FILE),
    caKey: join(dataDir, CA_KEY_FILE),
    cert: join(dataDir, TLS_CERT_FILE),
    key: join(dataDir, TLS_KEY_FILE),
  };

  let caCertPem = await readOptional(paths.caCert);
  let caKeyPem: string;
  let issued: EnsuredHubTls["issued"] = "none";
  if (caCertPem === undefined) {
    // A ca.key without ca.crt is left over from a crash between the two writes; nobody can
    // have pinned that CA yet, so it is replaced.
    ({ caCertPem, caKeyPem } = await createCa(now));
    await writeAtomic(paths.caKey, caKeyPem, 0o600);
    await writeAtomic(paths.caCert, caCertPem, 0o644);
    issued = "ca-and-serving-cert";
  } else {
    const existingKey = await readOptional(paths.caKey);
    if (existingKey === undefined) {
      throw new Error(
        `${paths.caCert} exists but ${paths.caKey} does not: restore the CA key, or remove ${paths.caCert} to create a new CA (every agent must then join again)`,
      );
    }
    caKeyPem = existingKey;
  }
  const ca = parseCertificate(caCertPem, paths.caCert);
  checkCa(ca, caKeyPem, paths, now);

  let certPem = await readOptional(paths.cert);
  let keyPem = await readOptional(paths.key);
  if (
    issued !== "none" ||
    certPem === undefined ||
    keyPem === undefined ||
    !servingCertFits(certPem, keyPem, ca, hosts, now)
  ) {
    ({ certPem, keyPem } = await issueServingCert(caCertPem, caKeyPem, hosts, now));
    await writeAtomic(paths.key, keyPem, 0o600);
    await writeAtomic(paths.cert, certPem, 0o644);
    if (issued === "none") issued = "serving-cert";
  }
  return {
    caCertPem,
    certPem,
    keyPem,
    caHash: caHashOf(caCertPem),
    caCertPath: resolve(paths.caCert),
    issued,
  };
}

/**
 * Loads operator-provided TLS files. `certFile` holds the serving certificate, optionally
 * followed by intermediates; `caFile` holds the CA that the chain ends at (its hash goes into
 * the join command). Throws, naming the file, when a file is missing or not PEM, the key does
 * not belong to the certificate, the chain does not lead to the CA, or the certificate has
 * expired (at `now`, default the current time).
 */
export async function loadHubTls(
  files: { certFile: string; keyFile: string; caFile: string },
  options: { now?: Date } = {},
): Promise<HubTls> {
  const now = options.now ?? new Date();
  const read = async (path: string) => {
    try {
      return await readFile(path, "utf8");
    } catch (cause) {
      throw new Error(`${path}: cannot read TLS file`, { cause });
    }
  };
  const [certPem, keyPem, caCertPem] = await Promise.all([
    read(files.certFile),
    read(files.keyFile),
    read(files.caFile),
  ]);
  const chain = splitPem(certPem).map((pem) => parseCertificate(pem, files.certFile));
  const [leaf] = chain;
  if (!leaf) throw new Error(`${files.certFile}: no PEM certificate found`);
  const ca = parseCertificate(caCertPem, files.caFile);
  if (!leaf.checkPrivateKey(parsePrivateKey(keyPem, files.keyFile))) {
    throw new Error(
      `${files.keyFile}: the private key does not belong to the certificate in ${files.certFile}`,
    );
  }
  const top = chain.reduce((child, parent) => {
    if (!signedBy(child, parent)) {
      throw new Error(
        `${files.certFile}: certificate "${child.subject}" is not signed by the next one, "${parent.subject}"`,
      );
    }
    return parent;
  });
  if (top.fingerprint256 !== ca.fingerprint256 && !signedBy(top, ca)) {
    throw new Error(`${files.certFile}: the certificate chain does not lead to the CA in ${files.caFile}`);
  }
  if (Date.parse(leaf.validTo) <= now.getTime()) {
    throw new Error(`${files.certFile}: the certificate expired at ${new Date(leaf.validTo).toISOString()}`);
  }
  return { caCertPem, certPem, keyPem, caHash: caHashOf(caCertPem), caCertPath: resolve(files.caFile) };
}

/**
 * kubeadm's CA certificate hash: `sha256:` and the hex SHA-256 of the DER SubjectPublicKeyInfo
 * exactly as it appears in the (first) certificate of `caCertPem`. Throws when it is not a certificate.
 */
export function caHashOf(caCertPem: string): string {
  const spki = subjectPublicKeyInfo(parseCertificate(caCertPem, "CA certificate").raw);
  return `sha256:${createHash("sha256").update(spki).digest("hex")}`;
}

/** Whether `caCertPem`'s hash equals `expected` (`sha256:<hex>`, hex in either case), compared in constant time. */
export function verifyCaHash(caCertPem: string, expected: string): boolean {
  const match = /^sha256:([0-9a-f]{64})$/i.exec(expected.trim());
  if (!match) return false;
  const actual = Buffer.from(caHashOf(caCertPem).slice("sha256:".length), "hex");
  return timingSafeEqual(actual, Buffer.from(match[1] as string, "hex"));
}

/**
 * The SubjectPublicKeyInfo TLV of a DER certificate: Certificate ::= SEQUENCE { tbsCertificate
 * SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer, validity, subject,
 * subjectPublicKeyInfo, ... }, ... }. The raw bytes, not a re-encoding, as Go's
 * RawSubjectPublicKeyInfo (what kubeadm hashes).
 */
function subjectPublicKeyInfo(der: Uint8Array): Uint8Array {
  const readTlv = (start: number) => {
    const tag = der[start];
    let length = der[start + 1];
    if (tag === undefined || length === undefined) throw new Error("certificate DER is truncated");
    let content = start + 2;
    if (length & 0x80) {
      const octets = length & 0x7f;
      if (octets === 0 || octets > 4) throw new Error("certificate DER has an unsupported length");
      length = 0;
      for (let i = 0; i < octets; i += 1) length = length * 256 + (der[content + i] ?? 0);
      content += octets;
    }
    const end = content + length;
    if (end > der.length) throw new Error("certificate DER is truncated");
    return { tag, start, content, end };
  };
  const tbs = readTlv(readTlv(0).content);
  let field = readTlv(tbs.content);
  if (field.tag === 0xa0) field = readTlv(field.end); // [0] version
  for (let skip = 0; skip < 5; skip += 1) field = readTlv(field.end); // serialNumber .. subject
  if (field.tag !== 0x30) throw new Error("certificate DER: subjectPublicKeyInfo is not a SEQUENCE");
  return der.subarray(field.start, field.end);
}

function normalizeHosts(hosts: readonly string[]): string[] {
  if (hosts.length === 0) throw new Error("hub TLS: at least one host name or IP address is required");
  const seen = new Set<string>();
  for (const raw of hosts) {
    const host = raw.trim();
    const ip = isIP(host) !== 0;
    if (!ip && !/^(\*\.)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(host)) {
      throw new Error(`hub TLS: ${JSON.stringify(raw)} is neither a DNS name nor an IP address`);
    }
    seen.add(ip ? host : host.toLowerCase());
  }
  return [...seen];
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new Error(`${path}: cannot read`, { cause: error });
  }
}

async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await writeFile(temporary, text, { mode, flag: "wx" });
    // The umask may have narrowed the mode; a key must be exactly 0600 whatever the umask.
    await chmod(temporary, mode);
    await rename(temporary, path);
  } catch (cause) {
    await rm(temporary, { force: true });
    throw new Error(`${path}: cannot write`, { cause });
  }
}

function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** The first certificate in `pem` (a bundle may hold several). */
function parseCertificate(pem: string, source: string): X509Certificate {
  try {
    return new X509Certificate(splitPem(pem)[0] ?? pem);
  } catch (cause) {
    throw new Error(`${source}: not a PEM certificate`, { cause });
  }
}

function parsePrivateKey(pem: string, source: string) {
  try {
    return createPrivateKey(pem);
  } catch (cause) {
    throw new Error(`${source}: not a PEM private key`, { cause });
  }
}

function signedBy(child: X509Certificate, parent: X509Certificate): boolean {
  return child.checkIssued(parent) && child.verify(parent.publicKey);
}

function checkCa(
  ca: X509Certificate,
  caKeyPem: string,
  paths: { caCert: string; caKey: string },
  now: Date,
): void {
  const key = parsePrivateKey(caKeyPem, paths.caKey);
  if (!ca.checkPrivateKey(key)) throw new Error(`${paths.caKey}: does not belong to ${paths.caCert}`);
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new Error(`${paths.caKey}: expected an ECDSA P-256 key`);
  }
  if (!ca.ca) throw new Error(`${paths.caCert}: not a CA certificate`);
  if (Date.parse(ca.validTo) <= now.getTime()) {
    throw new Error(
      `${paths.caCert}: the CA expired at ${new Date(ca.validTo).toISOString()}; remove ${paths.caCert} and ${paths.caKey} to create a new one (every agent must then join again)`,
    );
  }
}

/** Whether the stored serving certificate can stay: matches its key, signed by `ca`, covers every host, valid for 30 more days. */
function servingCertFits(
  certPem: string,
  keyPem: string,
  ca: X509Certificate,
  hosts: readonly string[],
  now: Date,
): boolean {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return false;
  } catch {
    return false; // unreadable files are replaced, as missing ones are
  }
  if (!signedBy(cert, ca)) return false;
  const renewAt = Math.min(Date.parse(ca.validTo), Date.parse(cert.validTo) - SERVING_CERT_RENEW_BEFORE_MS);
  if (Date.parse(cert.validFrom) > now.getTime() || renewAt <= now.getTime()) return false;
  return hosts.every((host) =>
    isIP(host) ? cert.checkIP(host) !== undefined : cert.checkHost(host, { subject: "never" }) !== undefined,
  );
}

// @peculiar/x509 ends PEM without a newline; files end with one so they concatenate into bundles.
const withNewline = (pem: string) => (pem.endsWith("\n") ? pem : `${pem}\n`);

async function exportPkcs8(x509: X509Module, key: webcrypto.CryptoKey): Promise<string> {
  return withNewline(
    x509.PemConverter.encode(await globalThis.crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY"),
  );
}

function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f; // positive, as RFC 5280 requires
  return bytes.toString("hex");
}

async function createCa(now: Date): Promise<{ caCertPem: string; caKeyPem: string }> {
  const x509 = await loadX509();
  const keys = await globalThis.crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const notBefore = new Date(now.getTime() - CLOCK_SKEW_MS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${CA_COMMON_NAME}`,
    keys,
    signingAlgorithm: ALGORITHM,
    notBefore,
    notAfter: new Date(now.getTime() + CA_VALIDITY_MS),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { caCertPem: withNewline(cert.toString("pem")), caKeyPem: await exportPkcs8(x509, keys.privateKey) };
}

async function issueServingCert(
  caCertPem: string,
  caKeyPem: string,
  hosts: readonly string[],
  now: Date,
): Promise<{ certPem: string; keyPem: string }> {
  const x509 = await loadX509();
  const caCert = new x509.X509Certificate(caCertPem);
  const caKeyDer = createPrivateKey(caKeyPem).export({ type: "pkcs8", format: "der" });
  const caKey = await globalThis.crypto.subtle.importKey("pkcs8", caKeyDer, ALGORITHM, false, ["sign"]);
  // The authority key id must equal the CA's subject key id for chain builders that match on it.
  const caKeyId = caCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  const keys = await globalThis.crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const notAfter = Math.min(now.getTime() + SERVING_CERT_VALIDITY_MS, caCert.notAfter.getTime());
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${SERVING_COMMON_NAME}`,
    issuer: caCert.subject,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: ALGORITHM,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(notAfter),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        hosts.map((host) => ({ type: isIP(host) ? "ip" : "dns", value: host })),
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      caKeyId
        ? new x509.AuthorityKeyIdentifierExtension(caKeyId)
        : await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { certPem: withNewline(cert.toString("pem")), keyPem: await exportPkcs8(x509, keys.privateKey) };
}
