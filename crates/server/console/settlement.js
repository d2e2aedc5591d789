// Settlement (结算): the split drawn own → each family account → out of pocket, every
// `explain` reason in words, and the holds, captures and refunds on a timeline. An
// institution's token reads only its own settlements: the API refuses the others (403).

import * as api from "./api.js";
import { h, lookup, table } from "./dom.js";
import { t, time, reason } from "./i18n.js";

// Settlements listed a page at a time unless the address names one.
const PAGE = 50;

export function render(main, { params, go }) {
  const value = params.get("id") ?? "";
  return lookup(main, { title: t("view.settlement"), label: t("settlement.id"), param: "id", id: "settlement-id", value, button: t("show"), go, t },
    async (id) => {
      const settlement = await api.get(`/v1/settlements/${api.q(id)}`);
      return [summary(settlement), flow(settlement), explain(settlement), timeline(settlement)];
    },
    () => list(params.get("after_seq") ?? "0", go));
}

// A page of the settlements the token may read (an institution's: its own), in the order
// created, each a link to its page.
async function list(after, go) {
  const page = await api.get(`/v1/settlements?after_seq=${api.q(after)}&limit=${PAGE}`);
  const rows = page.settlements.map((s) => h("tr", { dataset: { settlement: s.settlement_id } },
    h("td", {}, h("a", { href: `#/settlement?id=${api.q(s.settlement_id)}` }, s.settlement_id)),
    h("td", {}, s.institution), h("td", {}, s.beneficiary), h("td", {}, t(`category.${s.category}`)),
    h("td", { class: "num" }, s.amount), h("td", { class: "num" }, s.out_of_pocket),
    h("td", {}, t(`sstatus.${s.status}`)), h("td", {}, time(s.occurred_at))));
  const headers = [t("settlement.id"), t("settlement.institution"), t("settlement.beneficiary"), t("settlement.category"),
    t("settlement.amount"), t("split.pocket"), t("settlement.status"), t("settlement.occurred")];
  return h("section", { class: "card", "aria-labelledby": "settlements-title" },
    h("h2", { id: "settlements-title" }, t("settlement.list")),
    rows.length ? table(t("settlement.list"), headers, rows) : h("p", { class: "muted" }, t("none")),
    h("button", { type: "button", id: "settlements-next", disabled: !page.more, onclick: () => go({ after_seq: page.next_after_seq }) }, t("audit.next")));
}

function summary(s) {
  const item = (label, value) => h("div", { class: "figure" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value));
  return h("section", { class: "card", "aria-labelledby": "settlement-title" },
    h("h2", { id: "settlement-title" }, t("settlement.title", { id: s.settlement_id })),
    h("div", { class: "figures" },
      item(t("settlement.institution"), s.institution), item(t("settlement.beneficiary"), s.beneficiary),
      item(t("settlement.category"), t(`category.${s.category}`)), item(t("settlement.amount"), `¥${s.amount}`),
      item(t("settlement.status"), t(`sstatus.${s.status}`)), item(t("settlement.rules"), `v${s.rule_version}`)));
}

// own → each family account → out of pocket, in the order they paid.
function flow(s) {
  const steps = [];
  for (const split of s.splits) {
    const own = split.source === "own";
    steps.push(h("span", { class: `step ${own ? "own" : "family"}`, dataset: { account: split.account, source: split.source } },
      `${t(own ? "split.own" : "split.family", { account: split.account })} ¥${split.amount}`));
  }
  steps.push(h("span", { class: "step pocket", dataset: { source: "out_of_pocket" } }, `${t("split.pocket")} ¥${s.out_of_pocket}`));
  const arrows = steps.flatMap((step, i) => (i === 0 ? [step] : [h("span", { class: "arrow", "aria-hidden": "true" }, "→"), step]));
  return h("section", { class: "card", "aria-labelledby": "split-title" },
    h("h2", { id: "split-title" }, t("settlement.split")),
    h("div", { class: "flow", id: "split", role: "list" }, arrows.map((a) => { if (a.classList.contains("step")) a.setAttribute("role", "listitem"); return a; })));
}

function explain(s) {
  const lines = s.explain.map((line) => {
    const who = line.account ? t(line.source === "own" ? "split.own" : "split.family", { account: line.account }) : t("explain.nobody");
    return h("li", { dataset: { reason: line.reason ?? "paid", account: line.account ?? "" } },
      t("explain.line", { who, paid: line.paid, reason: reason(line.reason) }));
  });
  return h("section", { class: "card", "aria-labelledby": "explain-title" },
    h("h2", { id: "explain-title" }, t("settlement.explain")),
    h("ol", { class: "explain", id: "explain" }, lines));
}

function timeline(s) {
  const steps = [];
  const amount = s.amount;
  const at = time(s.occurred_at);
  const held = s.expires_at !== undefined || s.captured !== undefined || s.status === "held" || s.status === "voided" || s.status === "expired";
  steps.push(h("li", { dataset: { step: held ? "held" : "settled" } }, t(held ? "timeline.held" : "timeline.settled", { amount, time: at })));
  if (s.expires_at && s.status === "held") steps.push(h("li", { dataset: { step: "expires" } }, t("timeline.expires", { time: time(s.expires_at) })));
  if (s.captured !== undefined) steps.push(h("li", { dataset: { step: "captured" } }, t("timeline.captured", { amount: s.captured })));
  if (s.status === "voided" || s.status === "expired") steps.push(h("li", { dataset: { step: s.status } }, t(`timeline.${s.status}`)));
  for (const refund of s.refunds) {
    steps.push(h("li", { dataset: { step: "refund" } },
      t("timeline.refund", { id: refund.refund_id, amount: refund.amount, reason: refund.reason, seq: refund.seq })));
  }
  return h("section", { class: "card", "aria-labelledby": "timeline-title" },
    h("h2", { id: "timeline-title" }, t("settlement.timeline")),
    h("ol", { class: "timeline", id: "timeline" }, steps));
}
