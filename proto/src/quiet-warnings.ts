/**
 * grpc-js sets the TLS server name to the host of its target, so a hub reached at an IP address
 * (`https://127.0.0.1:8443`, common on a laptop or behind a Service IP) makes Node print
 * DEP0123 ("Setting the TLS ServerName to an IP address is not permitted by RFC 6066") once per
 * process. The certificate is still verified against the IP SAN; the warning only confuses
 * people, so the CLIs hide that one warning and keep every other.
 */
export function hideIpServerNameWarning(): void {
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((...args: unknown[]) => {
    const [, second, third] = args;
    const code = typeof second === "object" && second !== null ? (second as { code?: string }).code : third;
    if (code === "DEP0123") return;
    emit(...args);
  }) as typeof process.emitWarning;
}
