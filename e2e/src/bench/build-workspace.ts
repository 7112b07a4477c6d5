import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * Compiles proto and the named packages into their dist/ as `pnpm build` does (the hub with its
 * dashboard assets), for benchmarks that measure the compiled hub or agent as they ship, without
 * tsx in the process.
 */
export function buildPackages(packages: readonly ("hub" | "agent")[]): void {
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  const run = (args: string[], cwd = root) => {
    try {
      execFileSync(process.execPath, args, { cwd, stdio: "pipe" });
    } catch (error) {
      const output = (error as { stdout?: Buffer }).stdout?.toString() ?? "";
      throw new Error(`building ${args.at(-1)} failed:\n${output.slice(0, 4000)}`, { cause: error });
    }
  };
  for (const name of ["proto", ...packages]) {
    run([tsc, "-p", join(root, name, "tsconfig.json")]);
    if (name === "hub") run([join(root, "hub", "scripts", "copy-dashboard-assets.mjs")], join(root, "hub"));
  }
}
