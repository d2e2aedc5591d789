// Small DOM helpers: every element is built with `h`, never from HTML text, so nothing a
// server answers is ever parsed as markup.

import { ApiError } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";

// An element: h("button", {type: "button", onclick: f}, "text", child, ...).
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  return fill(element, attributes, children);
}

// An SVG element, with its attributes.
export function s(tag, attributes = {}, ...children) {
  return fill(document.createElementNS(SVG, tag), attributes, children);
}

function fill(element, attributes, children) {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// Replaces an element's children.
export function put(element, ...children) {
  element.replaceChildren();
  return fill(element, {}, children);
}

// A labelled field: the label names the control for assistive technology.
export function field(label, control) {
  return h("label", {}, label, control);
}

// A table of `rows` under `headers`.
export function table(caption, headers, rows) {
  return h("table", {},
    h("caption", { class: "muted" }, caption),
    h("thead", {}, h("tr", {}, headers.map((name) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, rows));
}

// A usage bar: `used` of `limit` (both money strings; a null limit is no limit).
export function bar(used, limit, label) {
  if (limit === null || limit === undefined) return h("span", { class: "muted" }, label);
  const ratio = Number(limit) > 0 ? Math.min(1, Number(used) / Number(limit)) : 1;
  const fill = h("span");
  fill.style.width = `${Math.round(ratio * 100)}%`;
  return h("span", {},
    h("span", { class: ratio >= 1 ? "bar full" : "bar", role: "meter", "aria-label": label,
      "aria-valuemin": 0, "aria-valuemax": limit, "aria-valuenow": used }, fill),
    " ", label);
}

// An error answer in words: 403 and 404 said plainly, anything else with its message.
export function failure(error, t) {
  const key = { 403: "forbidden", 404: "not_found" }[error.status];
  const text = key ? t(key) : t("error", { message: error.message });
  return h("p", { class: "error", role: "alert", dataset: { code: error.code ?? "" } }, text);
}

// A form of labelled fields and a submit button; `submit` gets the form's values.
export function form(id, fields, button, submit) {
  const element = h("form", { class: "inline", id }, fields, h("button", { type: "submit", class: "primary" }, button));
  element.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(Object.fromEntries(new FormData(element)));
  });
  return element;
}

// A view that looks one thing up: its heading, a form of one labelled field whose value is
// kept in the address as `param`, and under it what `load(value)` builds (with no value,
// what `browse()` builds, if given), an API error said in words instead.
export async function lookup(main, { title, label, param, id, value, button, go, t }, load, browse) {
  const input = h("input", { type: "text", name: param, id, value, required: true });
  put(main, h("h1", {}, title), form(`${id}-form`, [field(label, input)], button, (values) => go({ [param]: values[param].trim() })));
  if (!value) input.focus();
  if (!value && !browse) return;
  const body = h("div", { "aria-busy": "true" }, t("loading"));
  main.append(body);
  try {
    put(body, await (value ? load(value) : browse()));
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    put(body, failure(error, t));
  }
  body.removeAttribute("aria-busy");
}
