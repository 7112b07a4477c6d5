// Argo CD substitutes its build environment (`$ARGOCD_APP_NAME`, ...) into Helm parameters,
// valueFiles and fileParameters paths, Kustomize images and commonLabels (repository.go newEnv,
// types.go Env.Envsubst). Unknown variables become "", `$$` is a literal "$".

/** The variables Argo CD offers for one render, by name. */
export type AppEnv = Record<string, string>;

export type AppEnvInput = {
  appName: string;
  destinationNamespace: string;
  project?: string;
  commit: string;
  repoURL: string;
  path?: string;
  targetRevision?: string;
};

/** The ARGOCD_APP_* variables as Argo CD's repo-server sets them. */
export function createAppEnv(input: AppEnvInput): AppEnv {
  return {
    ARGOCD_APP_NAME: input.appName,
    ARGOCD_APP_NAMESPACE: input.destinationNamespace,
    ARGOCD_APP_PROJECT_NAME: input.project ?? "",
    ARGOCD_APP_REVISION: input.commit,
    ARGOCD_APP_REVISION_SHORT: input.commit.slice(0, 7),
    ARGOCD_APP_REVISION_SHORT_8: input.commit.slice(0, 8),
    ARGOCD_APP_SOURCE_REPO_URL: input.repoURL,
    ARGOCD_APP_SOURCE_PATH: input.path ?? "",
    ARGOCD_APP_SOURCE_TARGET_REVISION: input.targetRevision ?? "",
  };
}

const SPECIAL = new Set([
  "*",
  "#",
  "$",
  "@",
  "!",
  "?",
  "-",
  "0",
  "1",
  "2",
  "3",
  "4",
  "5",
  "6",
  "7",
  "8",
  "9",
]);

function isNameChar(char: string): boolean {
  return /^[A-Za-z0-9_]$/.test(char);
}

/** Go's os.Expand with Argo CD's mapping: `$NAME` and `${NAME}` replaced, `$$` -> `$`. */
export function expandAppEnv(text: string, env: AppEnv): string {
  const lookup = (name: string) => (name === "$" ? "$" : (env[name] ?? ""));
  let out = "";
  let i = 0;
  while (i < text.length) {
    const char = text[i] as string;
    if (char !== "$" || i + 1 >= text.length) {
      out += char;
      i += 1;
      continue;
    }
    const rest = text.slice(i + 1);
    const { name, width } = readShellName(rest);
    if (name === "" && width === 0) out += "$";
    else if (name !== "") out += lookup(name);
    // name "" with width > 0 is bad syntax ("${" or "${}"): Go eats it.
    i += 1 + width;
  }
  return out;
}

function readShellName(s: string): { name: string; width: number } {
  const first = s[0] as string;
  if (first === "{") {
    if (s.length > 2 && SPECIAL.has(s[1] as string) && s[2] === "}")
      return { name: s[1] as string, width: 3 };
    const close = s.indexOf("}", 1);
    if (close === 1) return { name: "", width: 2 };
    if (close < 0) return { name: "", width: 1 };
    return { name: s.slice(1, close), width: close + 1 };
  }
  if (SPECIAL.has(first)) return { name: first, width: 1 };
  let width = 0;
  while (width < s.length && isNameChar(s[width] as string)) width += 1;
  return { name: s.slice(0, width), width };
}
