/**
 * The API token of this browser tab. It lives in sessionStorage only (gone when the tab closes),
 * never in a cookie (so no request carries it implicitly) and never in the URL for longer than
 * one read: `#token=...`, as `flotilla demo` prints it, is stored and stripped at once.
 */

const KEY = "flotilla.apiToken";

export function readToken(): string | undefined {
  try {
    return sessionStorage.getItem(KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

export function storeToken(token: string): void {
  sessionStorage.setItem(KEY, token.trim());
}

export function clearToken(): void {
  sessionStorage.removeItem(KEY);
}

/**
 * Takes a token from a `#token=<token>` fragment: stores it and replaces the fragment with `#/`
 * in place (no history entry keeps it). Returns whether there was one.
 */
export function takeTokenFromLocation(): boolean {
  const match = /^#token=([^&]*)/.exec(location.hash);
  if (!match) return false;
  let token = "";
  try {
    token = decodeURIComponent(match[1] ?? "");
  } catch {
    token = "";
  }
  history.replaceState(null, "", `${location.pathname}${location.search}#/`);
  if (token.trim() === "") return false;
  storeToken(token);
  return true;
}
