// The status page keeps itself current while it is open. The server renders the whole page
// (readable without this script); every few seconds this fetches the same page again and patches
// only the nodes that differ, so nothing flickers, focus and scroll stay where they are, and the
// verdict's live region announces a change. One renderer (the server's), no framework, no build.

const root = document.querySelector("[data-live-root]");
const seconds = Number(root?.getAttribute("data-refresh-seconds")) || 5;
let timer;
let lastHtml;

async function refresh() {
  clearTimeout(timer);
  try {
    const response = await fetch(location.href, {
      headers: { accept: "text/html" },
      cache: "no-cache",
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const html = await response.text();
    if (html !== lastHtml) {
      lastHtml = html;
      apply(html);
    }
  } catch {
    showOffline();
  }
  schedule();
}

function schedule() {
  clearTimeout(timer);
  if (!document.hidden) timer = setTimeout(refresh, seconds * 1000);
}

function apply(html) {
  const next = new DOMParser().parseFromString(html, "text/html");
  const nextRoot = next.querySelector("[data-live-root]");
  if (!nextRoot) return;
  if (document.title !== next.title) document.title = next.title;
  morph(root, nextRoot);
}

function showOffline() {
  document.getElementById("offline")?.removeAttribute("hidden");
}

/** Makes `current` equal `wanted`, reusing nodes: attributes, then children (by data-key, else by position). */
function morph(current, wanted) {
  for (const { name } of [...current.attributes]) {
    if (!wanted.hasAttribute(name)) current.removeAttribute(name);
  }
  for (const { name, value } of [...wanted.attributes]) {
    if (current.getAttribute(name) !== value) current.setAttribute(name, value);
  }
  morphChildren(current, wanted);
}

function morphChildren(parent, wantedParent) {
  const keyed = new Map();
  for (const child of parent.children) {
    const key = child.getAttribute("data-key");
    if (key) keyed.set(key, child);
  }
  let cursor = parent.firstChild;
  for (const wanted of [...wantedParent.childNodes]) {
    const key = wanted.nodeType === Node.ELEMENT_NODE ? wanted.getAttribute("data-key") : null;
    let match = null;
    if (key) {
      match = keyed.get(key) ?? null;
      keyed.delete(key);
    } else if (cursor && sameShape(cursor, wanted)) {
      match = cursor;
    }
    if (!match) {
      parent.insertBefore(document.importNode(wanted, true), cursor);
      continue;
    }
    if (match === cursor) cursor = cursor.nextSibling;
    else parent.insertBefore(match, cursor);
    if (match.nodeType === Node.ELEMENT_NODE) morph(match, wanted);
    else if (match.nodeValue !== wanted.nodeValue) match.nodeValue = wanted.nodeValue;
  }
  while (cursor) {
    const next = cursor.nextSibling;
    parent.removeChild(cursor);
    cursor = next;
  }
}

function sameShape(node, wanted) {
  if (node.nodeType !== wanted.nodeType) return false;
  if (node.nodeType !== Node.ELEMENT_NODE) return true;
  return (
    node.nodeName === wanted.nodeName &&
    !node.hasAttribute("data-key") &&
    node.getAttribute("id") === wanted.getAttribute("id")
  );
}

if (root) {
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) clearTimeout(timer);
    else void refresh();
  });
  schedule();
}
