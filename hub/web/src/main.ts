/**
 * The dashboard's shell: sign-in, the top bar with the live indicator, one watch connection
 * for the whole page, and the page for `location.hash` (router.ts). Pages are replaced on
 * hash changes that name another page and updated in place otherwise.
 */
import { ApiError, createApiClient } from "./api-client.js";
import { createAppView } from "./app-view.js";
import { createClusterView } from "./cluster-view.js";
import { el, replaceChildren } from "./elements.js";
import { createGridView } from "./grid-view.js";
import { type LiveState, startLiveUpdates } from "./live-updates.js";
import { createLoginView } from "./login-view.js";
import { createRolloutsView } from "./rollouts-view.js";
import { parseRoute, type Route, rolloutsHash } from "./router.js";
import { clearToken, readToken, storeToken, takeTokenFromLocation } from "./session.js";
import type { View, ViewContext } from "./view.js";

const LIVE_TEXT: Record<LiveState, string> = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  stopped: "offline",
};

function start(): void {
  const root = document.getElementById("app");
  if (!root) throw new Error("index.html has no #app element");

  const live = el(
    "span",
    { class: "live live-connecting", id: "live-state", role: "status" },
    LIVE_TEXT.connecting,
  );
  const signOut = el("button", { type: "button", class: "secondary small", id: "sign-out" }, "Sign out");
  const topbar = el(
    "header",
    { class: "topbar" },
    el("a", { class: "brand", href: "#/" }, "Flotilla"),
    el(
      "nav",
      { "aria-label": "Main" },
      el("a", { href: "#/" }, "Fleet"),
      el("a", { href: rolloutsHash(), id: "nav-rollouts" }, "Rollouts"),
    ),
    el("span", { class: "spacer" }),
    live,
    signOut,
  );
  const main = el("main", { id: "main", tabindex: -1 });
  replaceChildren(root, topbar, main);

  let view: View | undefined;
  let route: Route | undefined;
  let watch: { stop(): void } | undefined;
  let signedIn = false;

  const api = createApiClient((message) => showLogin(message));
  const context: ViewContext = {
    api,
    setTitle: (title) => {
      document.title = `${title} · Flotilla`;
    },
  };

  function setLive(state: LiveState): void {
    live.className = `live live-${state}`;
    live.textContent = LIVE_TEXT[state];
  }

  function showLogin(message: string): void {
    signedIn = false;
    clearToken();
    watch?.stop();
    watch = undefined;
    view?.destroy();
    view = undefined;
    route = undefined;
    topbar.hidden = true;
    document.body.className = "page-login";
    context.setTitle("Sign in");
    replaceChildren(
      main,
      createLoginView({
        message,
        onSubmit: (token) => {
          storeToken(token);
          void signIn();
        },
      }),
    );
  }

  /** Checks the stored token with one cheap request, then shows the page and starts watching. */
  async function signIn(): Promise<void> {
    try {
      await api.get("/api/v1/grid", { limit: 1 });
    } catch (error) {
      // 401 already brought the form back with the hub's message.
      if (error instanceof ApiError && error.status === 401) return;
      showLogin(error instanceof Error ? error.message : String(error));
      return;
    }
    signedIn = true;
    topbar.hidden = false;
    watch?.stop();
    watch = startLiveUpdates({
      authorization: api.authorization,
      onState: setLive,
      onChange: (change) => view?.handleChange(change),
      onUnauthenticated: showLogin,
    });
    showRoute();
  }

  function showRoute(): void {
    if (!signedIn) return;
    const next = parseRoute(location.hash);
    // The same page with other parameters is updated in place; a named page only for its name.
    const samePage =
      view !== undefined &&
      route !== undefined &&
      route.view === next.view &&
      (!("name" in next) || ("name" in route && route.name === next.name));
    route = next;
    if (samePage && view) {
      view.update(next);
      return;
    }
    view?.destroy();
    view =
      next.view === "cluster"
        ? createClusterView(context, next)
        : next.view === "app"
          ? createAppView(context, next)
          : next.view === "rollouts"
            ? createRolloutsView(context)
            : createGridView(context, next);
    document.body.className = `page-${next.view}`;
    replaceChildren(main, view.element);
    main.focus({ preventScroll: true });
  }

  window.addEventListener("hashchange", () => {
    if (takeTokenFromLocation()) {
      void signIn();
      return;
    }
    showRoute();
  });
  signOut.addEventListener("click", () => showLogin(""));

  takeTokenFromLocation();
  if (readToken()) void signIn();
  else showLogin("");
}

start();
