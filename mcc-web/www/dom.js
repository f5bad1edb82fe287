// DOM helpers. Server data only ever reaches the page as text nodes or attribute values
// (never through innerHTML), so a node tag or an event text cannot inject markup.

/** Creates an element; `attrs` are attributes (`dataset` and `on*` handled apart), children are nodes or text. */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') {
      for (const [dk, dv] of Object.entries(v)) if (dv !== undefined && dv !== null) e.dataset[dk] = String(dv);
    }
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  append(e, children);
  return e;
}

function append(parent, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    parent.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

export const $ = (sel, root = document) => root.querySelector(sel);

/** The first 8 characters of an ID: what labels and tables show. */
export function shortId(id) {
  return typeof id === 'string' && id.length > 8 ? id.slice(0, 8) : (id ?? '');
}

/** An ID shown short, the full one (alone) in the tooltip; click copies the full ID. */
export function idCell(id) {
  if (!id) return el('span', { class: 'muted' }, '—');
  return el('code', { class: 'id', title: id, dataset: { copy: id } }, shortId(id));
}

/** "12 s ago" for an RFC 3339 time, or the text as given when it is not one. */
export function ago(time) {
  if (!time) return '—';
  const t = Date.parse(time);
  if (Number.isNaN(t)) return String(time);
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 0) return 'now';
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** Copies the full ID of any `[data-copy]` element clicked (one listener for the page). */
export function installCopy() {
  document.addEventListener('click', async (ev) => {
    const t = ev.target.closest('[data-copy]');
    if (!t) return;
    const text = t.dataset.copy;
    try {
      await navigator.clipboard.writeText(text);
      flash(t, 'copied');
    } catch {
      // No clipboard (plain HTTP, permissions): select the text so Ctrl+C works.
      const r = document.createRange();
      r.selectNodeContents(t);
      const s = window.getSelection();
      s.removeAllRanges();
      s.addRange(r);
      t.textContent = text;
    }
  });
}

function flash(node, word) {
  node.classList.add('copied');
  node.dataset.flash = word;
  setTimeout(() => node.classList.remove('copied'), 900);
}
