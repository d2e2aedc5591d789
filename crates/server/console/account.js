// Account (账户): balances by bucket, the balance over time with an as-of slider and a time
// picker (the account exactly as `GET /v1/accounts/{id}?as_of_seq=` / `?as_of=` answers it),
// the events that moved it, and the person's bindings both ways with their limits' usage.

import * as api from "./api.js";
import { h, put, field, table, bar, failure, lookup } from "./dom.js";
import { t, time, kind } from "./i18n.js";
import { stepChart } from "./chart.js";

const BUCKETS = ["current", "historic", "held", "available"];

export function render(main, { params, go }) {
  const value = params.get("person") ?? "";
  return lookup(main, { title: t("view.account"), label: t("account.person"), param: "person", id: "person", value, button: t("show"), go, t },
    async (person) => {
      const bindings = await api.get(`/v1/persons/${api.q(person)}/bindings`);
      // The person exists; a resident has no account (404), only bindings.
      const history = await api.get(`/v1/accounts/${api.q(person)}/history`).catch((error) => {
        if (error instanceof api.ApiError && error.status === 404) return null;
        throw error;
      });
      const card = history ? accountCard(person, history, params)
        : h("section", { class: "card" }, h("p", { class: "muted" }, t("account.resident")));
      return [card, bindingsCard(bindings)];
    });
}

function accountCard(person, history, params) {
  const entries = history.entries;
  const figures = h("div", { class: "figures", id: "balances" });
  const asOf = h("p", { id: "as-of", class: "muted" });
  const chart = h("div", { id: "chart" });
  const slider = h("input", { type: "range", id: "as-of-slider", min: 0, max: Math.max(0, entries.length - 1), step: 1,
    value: entries.length - 1, "aria-label": t("account.slider") });
  const picker = h("input", { type: "datetime-local", id: "as-of-time", step: "0.001" });
  const points = entries.map((e) => ({ seq: e.seq, value: Number(e.available), time: time(e.recorded_at) }));
  let asked = 0;

  // Shows the account as the API answers it at `query` (as_of_seq=N or as_of=T), and marks
  // the history's entry it falls on.
  async function showAt(query) {
    const ticket = ++asked;
    const suffix = query ? `?${query}` : "";
    try {
      const account = await api.get(`/v1/accounts/${api.q(person)}${suffix}`);
      if (ticket !== asked) return;
      put(figures, BUCKETS.map((bucket) => h("div", { class: "figure" },
        h("div", { class: "label" }, t(`account.${bucket}`)),
        h("div", { class: "value", dataset: { field: bucket } }, `¥${account[bucket]}`))));
      figures.dataset.asOfSeq = account.as_of_seq;
      const index = entries.findLastIndex((e) => e.seq <= account.as_of_seq);
      const entry = entries[index];
      put(asOf, t("account.asof", { seq: account.as_of_seq, time: time(entry?.recorded_at) }));
      put(chart, stepChart(points, index, t("account.chart")));
      if (index >= 0 && document.activeElement !== slider) slider.value = index;
      const hash = location.hash.split("?")[0];
      const next = new URLSearchParams({ person, ...(query ? Object.fromEntries(new URLSearchParams(query)) : {}) });
      history_replace(`${hash}?${next}`);
    } catch (error) {
      if (!(error instanceof api.ApiError)) throw error;
      put(figures, failure(error, t));
    }
  }

  slider.addEventListener("input", () => showAt(`as_of_seq=${entries[Number(slider.value)].seq}`));
  const pick = () => {
    if (!picker.value) return;
    const seconds = picker.value.length === 16 ? `${picker.value}:00` : picker.value;
    showAt(`as_of=${api.q(`${seconds}+08:00`)}`);
  };
  const initial = params.get("as_of_seq") ? `as_of_seq=${api.q(params.get("as_of_seq"))}`
    : params.get("as_of") ? `as_of=${api.q(params.get("as_of"))}` : "";
  showAt(initial);

  let previous = null;
  const rows = entries.map((e) => {
    const change = previous === null ? Number(e.available) : Number(e.available) - previous;
    previous = Number(e.available);
    return h("tr", { dataset: { seq: e.seq } },
      h("td", { class: "num" }, e.seq), h("td", {}, time(e.recorded_at)), h("td", {}, kind(e.kind)),
      h("td", { class: "num" }, `${change >= 0 ? "+" : ""}${change.toFixed(2)}`), h("td", { class: "num" }, e.available));
  }).reverse();

  return h("section", { class: "card", "aria-labelledby": "account-title" },
    h("h2", { id: "account-title" }, t("account.title", { person })),
    figures, asOf, chart,
    h("div", { class: "slider" }, field(t("account.slider"), slider)),
    h("div", { class: "slider" },
      field(t("account.picker"), picker),
      h("button", { type: "button", id: "as-of-apply", onclick: pick }, t("account.picker.apply")),
      h("button", { type: "button", id: "as-of-now", onclick: () => { slider.value = entries.length - 1; showAt(""); } }, t("account.now"))),
    h("h2", {}, t("account.events")),
    history.truncated ? h("p", { class: "muted" }, t("account.truncated")) : null,
    table(t("account.events"), [t("account.seq"), t("account.time"), t("account.kind"), t("account.change"), t("account.available")], rows));
}

// Rewrites the address without a new history entry or a re-render.
function history_replace(hash) {
  window.history.replaceState(null, "", hash);
}

function bindingsCard(bindings) {
  const rows = (list, other) => list.map((b) => h("tr", { dataset: { binding: b.binding_id } },
    h("td", {}, b.binding_id), h("td", {}, b[other]), h("td", {}, t(`relation.${b.relation}`)),
    h("td", {}, t(`status.${b.status}`)), h("td", { class: "num" }, b.priority ?? t("none")),
    h("td", {}, usage(b.used_month, b.monthly_limit)), h("td", {}, usage(b.used_year, b.annual_limit))));
  const headers = [t("bindings.id"), t("bindings.other"), t("bindings.relation"), t("bindings.status"),
    t("bindings.priority"), t("bindings.month"), t("bindings.year")];
  return h("section", { class: "card", id: "bindings", "aria-labelledby": "bindings-title" },
    h("h2", { id: "bindings-title" }, t("bindings.title")),
    table(t("bindings.authorizer"), headers, rows(bindings.as_authorizer, "beneficiary")),
    table(t("bindings.beneficiary"), headers, rows(bindings.as_beneficiary, "authorizer")));
}

function usage(used, limit) {
  const label = limit === null ? t("bindings.nolimit", { used }) : t("bindings.usage", { used, limit });
  return bar(used, limit, label);
}
