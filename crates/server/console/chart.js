// A step chart of a balance over events, drawn as inline SVG: no library, nothing loaded.

import { s } from "./dom.js";

const WIDTH = 760;
const HEIGHT = 220;
const PAD = { left: 64, right: 16, top: 12, bottom: 28 };

// `points`: [{seq, value, time?}] ascending, one apart each (the axis counts events, not
// time: the two ends say when); `selected`: the index marked. Returns the <svg>.
export function stepChart(points, selected, label) {
  const values = points.map((p) => p.value);
  const top = Math.max(1, ...values);
  const x = (i) => PAD.left + (points.length > 1 ? (i / (points.length - 1)) * (WIDTH - PAD.left - PAD.right) : 0);
  const y = (v) => HEIGHT - PAD.bottom - (v / top) * (HEIGHT - PAD.top - PAD.bottom);
  let path = "";
  points.forEach((p, i) => {
    path += i === 0 ? `M${x(i)},${y(p.value)}` : `H${x(i)}V${y(p.value)}`;
  });
  const svg = s("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "chart", role: "img", "aria-label": label },
    s("title", {}, label),
    s("line", { x1: PAD.left, y1: y(0), x2: WIDTH - PAD.right, y2: y(0), stroke: "#d6dbe4" }),
    s("line", { x1: PAD.left, y1: y(top), x2: WIDTH - PAD.right, y2: y(top), stroke: "#eef0f4" }),
    s("text", { x: PAD.left - 6, y: y(top) + 4, "text-anchor": "end" }, top.toFixed(2)),
    s("text", { x: PAD.left - 6, y: y(0) + 4, "text-anchor": "end" }, "0.00"),
    s("path", { d: path, fill: "none", stroke: "#0b5cad", "stroke-width": 2 }));
  points.forEach((p, i) => {
    const mark = i === selected;
    svg.append(s("circle", { cx: x(i), cy: y(p.value), r: mark ? 6 : 3, fill: mark ? "#f0a500" : "#0b5cad",
      "data-seq": p.seq }));
  });
  if (points.length) {
    const end = (p) => `#${p.seq}${p.time ? ` · ${p.time}` : ""}`;
    svg.append(s("text", { x: PAD.left, y: HEIGHT - 8 }, end(points[0])));
    svg.append(s("text", { x: WIDTH - PAD.right, y: HEIGHT - 8, "text-anchor": "end" }, end(points[points.length - 1])));
  }
  return svg;
}
