// Audit (审计): the hash chain verified on a button (ledger id, head, ok), and the event log,
// paged, filtered by kind and by person, each event open to its envelope and hash link.

import * as api from "./api.js";
import { h, put, field, failure, form } from "./dom.js";
import { t, time, kind } from "./i18n.js";

// Events a page shows unless the address says otherwise (`limit`, up to the API's 1000).
const PAGE = 50;

export async function render(main, { params, go }) {
  const after = params.get("after_seq") ?? "0";
  const wanted = params.get("kind") ?? "";
  const person = params.get("person") ?? "";
  const limit = params.get("limit") ?? PAGE;
  const verdict = h("div", { id: "verify-result", "aria-live": "polite" });
  const verify = h("button", { type: "button", id: "verify", class: "primary" }, t("audit.verify"));
  verify.addEventListener("click", async () => {
    put(verdict, t("loading"));
    try {
      const v = await api.get("/v1/audit/verify");
      put(verdict,
        h("p", { class: v.ok ? "ok" : "bad", dataset: { ok: v.ok } }, v.ok ? `✓ ${t("audit.ok")}` : t("audit.broken", v.broken ?? {})),
        h("dl", {},
          h("dt", {}, t("audit.ledger")), h("dd", { id: "ledger-id" }, v.ledger_id ?? t("none")),
          h("dt", {}, t("audit.head")), h("dd", { id: "head-seq" }, v.head_seq),
          h("dt", {}, t("audit.hash")), h("dd", {}, h("code", {}, v.head_hash))));
    } catch (error) {
      if (!(error instanceof api.ApiError)) throw error;
      put(verdict, failure(error, t));
    }
  });
  const kinds = h("select", { name: "kind", id: "kind" }, h("option", { value: "" }, t("audit.allkinds")));
  const filters = form("events-filter", [
    field(t("audit.kind"), kinds),
    field(t("audit.person"), h("input", { type: "text", name: "person", id: "event-person", value: person })),
  ], t("audit.filter"), (values) => go({ kind: values.kind, person: values.person.trim(), limit: params.get("limit") }));
  const log = h("div", { id: "events", "aria-busy": "true" }, t("loading"));
  put(main, h("h1", {}, t("view.audit")),
    h("section", { class: "card" }, verify, verdict),
    h("section", { class: "card", "aria-labelledby": "events-title" }, h("h2", { id: "events-title" }, t("audit.events")), filters, log));
  // The kinds are the API's own list, read from its OpenAPI document.
  const doc = await api.get("/openapi.json");
  for (const name of doc.components.schemas.Envelope.properties.kind.enum) {
    kinds.append(h("option", { value: name, selected: name === wanted }, kind(name)));
  }
  const query = new URLSearchParams({ after_seq: after, limit });
  if (wanted) query.set("kind", wanted);
  if (person) query.set("person", person);
  try {
    const page = await api.get(`/v1/events?${query}`);
    put(log, events(page, { wanted, person, limit: params.get("limit"), go }));
  } catch (error) {
    if (!(error instanceof api.ApiError)) throw error;
    put(log, failure(error, t));
  }
  log.removeAttribute("aria-busy");
}

function events(page, { wanted, person, limit, go }) {
  const rows = page.events.map((e) => h("li", { dataset: { seq: e.seq, kind: e.kind } },
    h("details", {},
      h("summary", {}, `#${e.seq} · ${time(e.recorded_at)} · ${kind(e.kind)}${e.request_id ? ` · ${t("audit.request")} ${e.request_id}` : ""}`),
      h("p", { class: "hash-link" }, t("audit.link", { prev: e.prev_hash.slice(0, 16), hash: e.hash.slice(0, 16) }), " ",
        e.seq > 1 ? h("button", { type: "button", onclick: () => go({ after_seq: e.seq - 2 }) }, t("audit.prev", { seq: e.seq - 1 })) : null),
      h("pre", {}, JSON.stringify(e, null, 2)))));
  const more = page.next_after_seq < page.head_seq;
  return h("div", {},
    h("ol", { class: "events", id: "event-list" }, rows),
    h("p", { class: "muted", id: "page-note" }, t("audit.page", { next: page.next_after_seq, head: page.head_seq })),
    h("button", { type: "button", id: "first-page", onclick: () => go({ kind: wanted, person, limit }) }, t("audit.first")), " ",
    h("button", { type: "button", id: "next-page", disabled: !more, onclick: () => go({ kind: wanted, person, limit, after_seq: page.next_after_seq }) }, t("audit.next")));
}
