// Tiny DOM helpers. Everything the UI shows is built with `h()`, which sets text with
// `textContent` and never parses HTML, so span data (names, arguments, messages) cannot inject
// markup.

/**
 * Creates an element.
 * @param {string} tag tag name, optionally with an id and classes: "input#search", "div.row.selected"
 * @param {object|null} attrs attributes; `on<event>` keys add listeners, `dataset` an object,
 *   `style` an object, `class` a string; `false`/`null`/`undefined` values are skipped
 * @param {...any} children nodes, strings, numbers, arrays of these; null/false are skipped
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const [head, ...classes] = tag.split('.');
  const [name, id] = head.split('#');
  const el = document.createElement(name);
  if (id) el.id = id;
  if (classes.length) el.className = classes.join(' ');
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === false || value === null || value === undefined) continue;
      if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2).toLowerCase(), value);
      } else if (key === 'class') {
        el.className = [el.className, value].filter(Boolean).join(' ');
      } else if (key === 'dataset') {
        Object.assign(el.dataset, value);
      } else if (key === 'style' && typeof value === 'object') {
        Object.assign(el.style, value);
      } else if (key in el && typeof value !== 'string' && key !== 'list') {
        el[key] = value;
      } else {
        el.setAttribute(key, value === true ? '' : String(value));
      }
    }
  }
  append(el, children);
  return el;
}

/** Appends children (nodes, strings, numbers, nested arrays; null/false skipped). */
export function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
  return el;
}

/** Removes every child of `el` and appends `children`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A short-lived status line ("loading…", an error) inside a container. */
export function notice(text, kind = 'info') {
  return h(`p.notice.notice-${kind}`, { role: kind === 'error' ? 'alert' : 'status' }, text);
}

/** True when a keyboard event comes from a text field (shortcuts must not fire there). */
export function isTyping(event) {
  const t = event.target;
  if (!(t instanceof HTMLElement)) return false;
  return t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName);
}

/** Offers `text` as a file download named `filename`. */
export function download(filename, text, type = 'text/plain') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
