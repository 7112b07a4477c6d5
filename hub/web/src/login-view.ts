/**
 * Sign-in: the page asks for an API token (`fla_<id>.<secret>`), keeps it in sessionStorage
 * and checks it with one request. A refused token comes back here with the hub's message.
 */
import { el } from "./elements.js";

export type LoginOptions = {
  /** Why the form is shown again (the hub's refusal); empty on first visit. */
  message: string;
  /** Called with the token as typed; the shell stores and checks it. */
  onSubmit(token: string): void;
};

export function createLoginView(options: LoginOptions): HTMLElement {
  const input = el("input", {
    id: "login-token",
    name: "token",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    placeholder: "fla_…",
    "aria-describedby": "login-help",
  });
  const form = el(
    "form",
    { class: "login", "aria-labelledby": "login-title" },
    el("h1", { id: "login-title" }, "Sign in to Flotilla"),
    options.message ? el("p", { class: "error", role: "alert", id: "login-error" }, options.message) : null,
    el("label", { for: "login-token" }, "API token"),
    input,
    el(
      "p",
      { id: "login-help", class: "muted" },
      "The hub wrote an admin token to admin.token in its data directory on first start. ",
      "The token stays in this browser tab only (session storage) and is sent as an Authorization header.",
    ),
    el("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (token !== "") options.onSubmit(token);
  });
  queueMicrotask(() => input.focus());
  return el("section", { class: "page login-page" }, form);
}
