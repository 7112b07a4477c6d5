// Throw-away TLS material for tests: a CA and a server certificate for localhost and 127.0.0.1,
// made with @peculiar/x509 on Node's WebCrypto (ECDSA P-256). Nothing touches the disk.

/** PEM-encoded CA certificate and server certificate with its PKCS#8 private key. */
export interface TestTls {
  caPem: string;
  certPem: string;
  keyPem: string;
}

const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const validityMs = 24 * 60 * 60 * 1000;

/** Creates a fresh CA and a server certificate it signed, valid from an hour ago for one day. */
export async function createTestTls(): Promise<TestTls> {
  const x509 = await importX509();
  x509.cryptoProvider.set(globalThis.crypto);
  const notBefore = new Date(Date.now() - 60 * 60 * 1000);
  const notAfter = new Date(notBefore.getTime() + validityMs);

  const caKeys = await globalThis.crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: "CN=Flotilla test CA",
    keys: caKeys,
    signingAlgorithm: algorithm,
    notBefore,
    notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  const serverKeys = await globalThis.crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.create({
    subject: "CN=localhost",
    issuer: ca.subject,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: algorithm,
    notBefore,
    notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: "localhost" },
        { type: "ip", value: "127.0.0.1" },
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  const pkcs8 = await globalThis.crypto.subtle.exportKey("pkcs8", serverKeys.privateKey);
  return {
    caPem: ca.toString("pem"),
    certPem: cert.toString("pem"),
    keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY"),
  };
}

// @peculiar/x509 registers its algorithms with tsyringe, which needs the Reflect metadata API:
// load the reflect-metadata polyfill first, then x509.
async function importX509() {
  await import("reflect-metadata");
  return await import("@peculiar/x509");
}
