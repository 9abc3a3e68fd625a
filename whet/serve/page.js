// What the pages of whet serve share (the playground, /recommend): whet.serve.pages puts it in
// place of a page's script element naming page.js, so each page stays one response. (This file
// must never contain a closing script tag: it is inlined.)
"use strict";
const $ = (id) => document.getElementById(id);

function headers() {
  const key = $("api-key").value.trim();
  const h = { "Content-Type": "application/json" };
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

async function call(path, options) {
  const response = await fetch(path, Object.assign({ headers: headers() }, options));
  const body = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) throw new Error(body.detail || ("HTTP " + response.status));
  return body;
}
