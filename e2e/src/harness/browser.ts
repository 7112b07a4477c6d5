// Headless Chromium (Debian's package) through playwright-core, for the dashboard tests. The
// flags keep it off the network this machine does not have (background updates, sync, QUIC).
import { fileURLToPath } from "node:url";
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM_PATH = process.env.FLOTILLA_CHROMIUM ?? "/usr/bin/chromium";

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Where tests keep screenshots (gitignored): e2e/artifacts/<name>/. */
export function artifactsDir(name: string): string {
  return fileURLToPath(new URL(`../../artifacts/${name}/`, import.meta.url));
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}
