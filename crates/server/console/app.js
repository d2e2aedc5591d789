// The console's shell: sign-in, the views a role may open, the language switch, and the
// router (`#/view?param=value`). Each view is a module with `render(main, context)`.

import * as api from "./api.js";
import { h, put, field } from "./dom.js";
import { t, lang, setLang } from "./i18n.js";
import * as account from "./account.js";
import * as settlement from "./settlement.js";
import * as audit from "./audit.js";
import * as operations from "./operations.js";

const VIEWS = { account, settlement, audit, operations };

// The views each role may open: what its token may read (api.md §3).
const ROLE_VIEWS = {
  operator: ["account", "settlement", "audit", "operations"],
  channel: ["account"],
  institution: ["settlement"],
  auditor: ["account", "settlement", "audit", "operations"],
};

let session = null;
const main = document.getElementById("main");

// The route: its view and its parameters.
function route() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  return { view: path, params: new URLSearchParams(query ?? "") };
}

// Moves to a view with parameters (kept in the address, so a view can be linked to).
export function go(view, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v !== undefined && v !== null));
  const next = `#/${view}${query.size ? `?${query}` : ""}`;
  if (location.hash === next) show();
  else location.hash = next;
}

function chrome() {
  document.documentElement.lang = lang() === "en" ? "en" : "zh-CN";
  document.title = `${t("view." + (route().view || "account"))} · 共济 Gongji`;
  const langButton = document.getElementById("lang");
  langButton.textContent = t("lang.switch");
  langButton.setAttribute("aria-label", `${t("lang.name")} → ${t("lang.switch")}`);
  const signout = document.getElementById("signout");
  signout.textContent = t("signout");
  signout.hidden = !session;
  const who = document.getElementById("who");
  const nav = document.getElementById("nav");
  if (!session) {
    put(who);
    put(nav);
    return;
  }
  put(who, t(`role.${session.role}`), session.institution ? ` ${session.institution}` : "");
  who.dataset.role = session.role;
  const current = route().view;
  put(nav, ROLE_VIEWS[session.role].map((view) =>
    h("a", { href: `#/${view}`, "aria-current": view === current ? "page" : false, dataset: { view } }, t(`view.${view}`))));
}

function signInForm(refused) {
  const input = h("input", { type: "password", id: "token", name: "token", autocomplete: "off", required: true });
  const form = h("form", { class: "card signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, t("signin.title")),
    field(t("signin.token"), input),
    refused ? h("p", { class: "error", role: "alert", id: "signin-error" }, t("signin.refused")) : null,
    h("button", { type: "submit", class: "primary", id: "signin" }, t("signin.submit")),
    h("p", { class: "muted" }, t("signin.note")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      session = await api.signIn(input.value.trim());
      show();
    } catch (error) {
      if (!(error instanceof api.ApiError)) throw error;
      api.forget();
      put(main, signInForm(true));
      main.querySelector("input").focus();
    }
  });
  return form;
}

// Shows the view the address names, if the role may open it (else its first view).
export function show() {
  chrome();
  if (!session) {
    put(main, signInForm(false));
    main.querySelector("input").focus();
    return;
  }
  const { view, params } = route();
  const allowed = ROLE_VIEWS[session.role];
  if (!allowed.includes(view)) {
    location.replace(`#/${allowed[0]}`);
    return;
  }
  main.dataset.view = view;
  VIEWS[view].render(main, { session, params, go: (next) => go(view, next) });
}

async function start() {
  document.getElementById("lang").addEventListener("click", () => {
    setLang(lang() === "en" ? "zh" : "en");
    show();
  });
  document.getElementById("signout").addEventListener("click", () => {
    api.forget();
    session = null;
    location.hash = "";
    show();
  });
  window.addEventListener("hashchange", show);
  if (api.token()) {
    try {
      session = await api.session();
    } catch {
      api.forget();
    }
  }
  show();
}

start();
