// Operations (运维): rule versions per region with a side-by-side diff of two versions, the
// projections' status and the rule changes that touched each, a rebuild (dry run → diff
// table → rebuild with a live progress bar; operators only), the publisher's lag and whether
// it is connected to NATS.

import * as api from "./api.js";
import { h, put, field, table, failure } from "./dom.js";
import { t } from "./i18n.js";

const PROJECTIONS = ["all", "balances", "bindings", "settlements"];
const POLL_MS = 200;

export async function render(main, { session }) {
  const rules = h("section", { class: "card", id: "rules", "aria-labelledby": "rules-title" }, h("h2", { id: "rules-title" }, t("ops.rules")));
  const projections = h("section", { class: "card", id: "projections", "aria-labelledby": "projections-title" });
  const publisher = h("section", { class: "card", id: "publisher", "aria-labelledby": "publisher-title" });
  put(main, h("h1", {}, t("view.operations")), rules, projections,
    session.role === "operator" ? rebuildCard(() => showProjections(projections)) : null, publisher);
  await Promise.all([showRules(rules), showProjections(projections), showPublisher(publisher)]);
}

async function guarded(card, work) {
  try {
    await work();
  } catch (error) {
    if (!(error instanceof api.ApiError)) throw error;
    card.append(failure(error, t));
  }
}

function showRules(card) {
  return guarded(card, async () => {
    const { regions } = await api.get("/v1/regions");
    if (!regions.length) return card.append(h("p", { class: "muted" }, t("none")));
    const region = h("select", { id: "rules-region" }, regions.map((r) => h("option", { value: r.region }, r.region)));
    const left = h("select", { id: "rules-left" });
    const right = h("select", { id: "rules-right" });
    const diff = h("div", { id: "rules-diff" });
    const versions = () => regions.find((r) => r.region === region.value).versions;
    const fillVersions = () => {
      const list = versions();
      for (const [select, pick] of [[left, Math.max(0, list.length - 2)], [right, list.length - 1]]) {
        put(select, list.map((v, i) => h("option", { value: i, selected: i === pick }, `v${v.version}`)));
      }
      compare();
    };
    const compare = () => put(diff, sideBySide(versions()[Number(left.value)], versions()[Number(right.value)]));
    region.addEventListener("change", fillVersions);
    left.addEventListener("change", compare);
    right.addEventListener("change", compare);
    card.append(h("div", { class: "inline form" }, field(t("ops.region"), region), " ", field(t("ops.left"), left), " ", field(t("ops.right"), right)), diff);
    fillVersions();
  });
}

// Two rule sets field by field, the fields that differ marked.
function sideBySide(a, b) {
  const show = (value) => (value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : String(value));
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  const rows = names.map((name) => {
    const differs = show(a[name]) !== show(b[name]);
    return h("tr", { class: differs ? "differs" : false, dataset: { field: name, differs } },
      h("th", { scope: "row" }, name, differs ? h("span", { class: "bad" }, ` ≠ ${t("ops.differs")}`) : null),
      h("td", {}, h("code", {}, show(a[name]))), h("td", {}, h("code", {}, show(b[name]))));
  });
  return table(`v${a.version} ↔ v${b.version}`, [t("ops.field"), `v${a.version}`, `v${b.version}`], rows);
}

function showProjections(card) {
  put(card, h("h2", { id: "projections-title" }, t("ops.projections")));
  return guarded(card, async () => {
    const statuses = await Promise.all(PROJECTIONS.map((name) => api.get(`/v1/admin/projections/${name}`)));
    const rows = statuses.map((s) => h("tr", { dataset: { projection: s.name } },
      h("th", { scope: "row" }, s.name), h("td", {}, t(`rstate.${s.status}`)),
      h("td", { class: "num" }, s.events_total ? `${s.events_done}/${s.events_total}` : ""),
      h("td", {}, (s.depends_on ?? []).join(", ")),
      h("td", {}, (s.rule_changes ?? []).map((c) => h("div", {}, t("ops.change", { region: c.region, version: c.version, parameters: c.parameters.join(", ") }))))));
    card.append(table(t("ops.projections"), [t("ops.projection"), t("ops.state"), t("ops.progress"), t("ops.depends"), t("ops.changes")], rows));
  });
}

// Dry run, read the diff, then rebuild: the rebuild button opens only after a dry run of
// the same projection has shown its diff. Every control here writes: `data-write` marks it.
function rebuildCard(refresh) {
  const name = h("select", { id: "rebuild-name", dataset: { write: "" } }, PROJECTIONS.map((p) => h("option", { value: p }, p)));
  const dry = h("button", { type: "button", id: "rebuild-dry", class: "primary", dataset: { write: "" } }, t("ops.dryrun"));
  const swap = h("button", { type: "button", id: "rebuild-swap", disabled: true, dataset: { write: "" } }, t("ops.swap"));
  const progress = h("progress", { id: "rebuild-progress", max: 100, value: 0, "aria-label": t("ops.progress") });
  const percent = h("span", { id: "rebuild-percent" }, "0%");
  const result = h("div", { id: "rebuild-result", "aria-live": "polite" });
  name.addEventListener("change", () => { swap.disabled = true; });

  async function run(dryRun) {
    dry.disabled = swap.disabled = true;
    put(result);
    try {
      const projection = name.value;
      await api.post(`/v1/admin/projections/${projection}/rebuild?dry_run=${dryRun}`);
      let status;
      do {
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        status = await api.get(`/v1/admin/projections/${projection}`);
        const share = status.events_total ? Math.floor((100 * status.events_done) / status.events_total) : 0;
        const shown = status.status === "done" ? 100 : share;
        progress.value = shown;
        percent.textContent = `${shown}%`;
      } while (status.status === "running");
      put(result, outcome(status));
      swap.disabled = !(dryRun && status.status === "done");
    } catch (error) {
      if (!(error instanceof api.ApiError)) throw error;
      put(result, failure(error, t));
    }
    dry.disabled = false;
    await refresh();
  }
  dry.addEventListener("click", () => run(true));
  swap.addEventListener("click", () => run(false));
  return h("section", { class: "card", id: "rebuild", "aria-labelledby": "rebuild-title" },
    h("h2", { id: "rebuild-title" }, t("ops.rebuild")),
    h("p", { class: "muted" }, t("ops.needdry")),
    h("div", { class: "slider" }, field(t("ops.projection"), name), dry, swap),
    h("p", {}, progress, " ", percent), result);
}

function outcome(status) {
  if (status.status === "failed") return h("p", { class: "error", role: "alert" }, status.error);
  const d = status.diff;
  const same = d.accounts_changed + d.bindings_changed + d.settlements_changed === 0;
  return h("div", { dataset: { status: status.status, swapped: status.swapped } },
    table(t("ops.diff"), [t("ops.accounts"), t("ops.bindingsChanged"), t("ops.settlements")],
      [h("tr", { id: "rebuild-diff" }, h("td", {}, d.accounts_changed), h("td", {}, d.bindings_changed), h("td", {}, d.settlements_changed))]),
    same ? h("p", { class: "ok" }, t("ops.nodiff")) : h("div", {}, h("h3", {}, t("ops.first")), h("ul", {}, d.first.map((line) => h("li", {}, line)))),
    status.swapped ? h("p", { class: "ok" }, t("ops.swapped")) : null);
}

// The publisher's figures, from the Prometheus text of /metrics (which needs no token).
function showPublisher(card) {
  put(card, h("h2", { id: "publisher-title" }, t("ops.publisher")));
  return guarded(card, async () => {
    const text = await api.get("/metrics");
    const value = (name) => text.split("\n").filter((line) => line.startsWith(name)).reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
    const connected = value("gongji_publisher_connected") === 1;
    const item = (label, id, figure) => h("div", { class: "figure" }, h("div", { class: "label" }, label), h("div", { class: "value", id }, figure));
    card.append(h("div", { class: "figures" },
      item(t("ops.lag"), "publisher-lag", value("gongji_publisher_lag_events")),
      item(t("ops.lagSeconds"), "publisher-lag-seconds", value("gongji_publisher_lag_seconds").toFixed(1)),
      item(t("ops.published"), "published", value("gongji_published_total")),
      item(t("ops.headseq"), "head", value("gongji_log_head_seq")),
      item(t("ops.nats"), "nats", t(connected ? "ops.nats.up" : "ops.nats.down"))),
      h("button", { type: "button", id: "publisher-refresh", onclick: () => showPublisher(card) }, t("ops.refresh")));
    card.querySelector("#nats").dataset.connected = connected;
  });
}
