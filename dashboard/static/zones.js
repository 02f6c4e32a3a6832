// Vigil zone editor: draw zones (polygons) and lines (directed segments) on a camera's frame, then save them.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const DECIMALS = 4;  // 1/10000 of the frame: finer than a pixel of a 4K picture

function svgElement(tag, attributes) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  return element;
}

function pointsText(points) {
  return points.map(([x, y]) => `${x},${y}`).join(" ");
}

function shapeElement(kind, points) {
  if (kind === "zone") return svgElement("polygon", { class: "zone", points: pointsText(points) });
  const [[x1, y1], [x2, y2]] = points;
  return svgElement("line", { class: "line", x1, y1, x2, y2, "marker-end": "url(#arrow)" });
}

function label(text, [x, y], kind) {
  const element = document.createElement("span");
  element.className = `shape-label ${kind}`;
  element.textContent = text;  // textContent: a name is shown, never run
  element.style.left = `${x * 100}%`;
  element.style.top = `${y * 100}%`;
  return element;
}

function setUp(editor) {
  const shapes = JSON.parse(editor.dataset.shapes);
  const overlay = editor.querySelector("[data-overlay]");
  const shapesLayer = editor.querySelector("[data-shapes-layer]");
  const draftLayer = editor.querySelector("[data-draft-layer]");
  const labels = editor.querySelector("[data-labels]");
  const list = editor.querySelector("[data-list]");
  const tools = editor.querySelector("[data-tools]");
  const result = editor.querySelector("[data-result]");
  let draft = [];

  function show(message, problems = [], ok = false) {
    result.replaceChildren(document.createTextNode(message));
    result.className = `save-result ${ok ? "ok" : "error"}`;
    if (problems.length === 0) return;
    const items = document.createElement("ul");
    for (const problem of problems) {
      const item = document.createElement("li");
      item.textContent = problem;
      items.append(item);
    }
    result.append(items);
  }

  function render() {
    shapesLayer.replaceChildren();
    labels.replaceChildren();
    list.replaceChildren();
    for (const [kind, group] of [["zone", shapes.zones], ["line", shapes.lines]]) {
      for (const [name, points] of Object.entries(group)) {
        shapesLayer.append(shapeElement(kind, points));
        labels.append(label(name, points[0], kind));
        const item = document.createElement("li");
        item.dataset.shape = name;
        const text = document.createElement("span");
        text.textContent = `${kind} ${name}: ${points.length} points`;
        const remove = document.createElement("button");
        remove.type = "button";
        remove.textContent = "Delete";
        remove.addEventListener("click", () => { delete group[name]; render(); });
        item.append(text, " ", remove);
        list.append(item);
      }
    }
    draftLayer.replaceChildren(svgElement("polyline", { class: "draft", points: pointsText(draft) }));
    for (const [x, y] of draft) {
      draftLayer.append(svgElement("circle", { class: "draft-point", cx: x, cy: y, r: 0.006 }));
    }
    editor.querySelector("[data-draft-count]").textContent = `${draft.length} point${draft.length === 1 ? "" : "s"}`;
  }

  overlay.addEventListener("click", (event) => {
    const box = overlay.getBoundingClientRect();
    const relative = (offset, size) => Number(Math.min(1, Math.max(0, offset / size)).toFixed(DECIMALS));
    draft.push([relative(event.clientX - box.left, box.width), relative(event.clientY - box.top, box.height)]);
    render();
  });

  editor.querySelector("[data-clear]").addEventListener("click", () => { draft = []; render(); });

  editor.querySelector("[data-finish]").addEventListener("click", () => {
    const kind = tools.elements.kind.value;
    const name = tools.elements.name.value.trim();
    if (!NAME.test(name)) return show("A name is 1 to 64 letters, digits, _ or -.");
    if (kind === "zone" && draft.length < 3) return show("A zone needs at least 3 points.");
    if (kind === "line" && draft.length !== 2) return show("A line needs exactly 2 points: start and end.");
    (kind === "zone" ? shapes.zones : shapes.lines)[name] = draft;
    draft = [];
    tools.elements.name.value = "";
    show(`${kind} ${name} added: save to apply it.`, [], true);
    render();
  });

  editor.querySelector("[data-save]").addEventListener("click", async () => {
    const token = document.querySelector("meta[name=csrf-token]").content;
    const response = await fetch(editor.dataset.saveUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": token },
      body: JSON.stringify({ zones: shapes.zones, lines: shapes.lines }),
    });
    const answer = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
    if (!response.ok) return show(answer.error, answer.problems || []);
    shapes.zones = answer.zones;
    shapes.lines = answer.lines;
    render();
    show("Saved: the config file is updated and the pipeline uses the new shapes.", [], true);
  });

  editor.querySelector("[data-frame]").addEventListener("error", () => {
    editor.querySelector(".stage").classList.add("without-frame");
    editor.querySelector(".no-frame").hidden = false;
  });
  render();
}

document.addEventListener("DOMContentLoaded", () => {
  const editor = document.querySelector(".zone-editor");
  if (editor) setUp(editor);
});
