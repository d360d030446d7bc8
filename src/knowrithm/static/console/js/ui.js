// Shared building blocks. Everything renders through Preact (text nodes and attributes),
// never through innerHTML, so data from the API is always shown as text.
import { html, useState, useEffect, useRef, useCallback } from "../vendor/preact-htm.js";
import { ApiError } from "./api.js";

export { html, useState, useEffect, useRef, useCallback };

let nextId = 0;
export const uid = (prefix = "f") => `${prefix}-${++nextId}`;

// Router: history API paths under /app (plus the mailed /verify and /reset-password links).
const routeListeners = new Set();
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  routeListeners.forEach((fn) => fn());
  window.scrollTo(0, 0);
}
window.addEventListener("popstate", () => routeListeners.forEach((fn) => fn()));
export function useLocation() {
  const [, bump] = useState(0);
  const sub = useRef(null);
  // Subscribed during the first render, not in an effect: children's effects (a redirect)
  // run before their parent's and would navigate before anyone listens.
  if (!sub.current) {
    sub.current = () => bump((n) => n + 1);
    routeListeners.add(sub.current);
  }
  useEffect(() => () => routeListeners.delete(sub.current), []);
  return location.pathname;
}
export function Link({ href, children, ...rest }) {
  const click = (e) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return html`<a href=${href} onClick=${click} ...${rest}>${children}</a>`;
}

export function errorText(err) {
  if (!err) return "";
  if (err instanceof ApiError) {
    const extra = err.details && typeof err.details === "object"
      ? Object.entries(err.details).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : typeof v === "object" ? JSON.stringify(v) : v}`).join("; ")
      : "";
    return extra && !err.message.includes(extra) ? `${err.message} (${extra})` : err.message;
  }
  return err.message || String(err);
}

export function ErrorBox({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${errorText(error)}</p>`;
}

export function Notice({ children }) {
  return children ? html`<p class="notice" role="status">${children}</p>` : null;
}

// useLoad(fn, deps) -> {data, error, loading, reload}
export function useLoad(fn, deps = []) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    Promise.resolve().then(fn).then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error) => live && setState({ data: null, error, loading: false }),
    );
    return () => { live = false; };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((t) => t + 1) };
}

// useAction(fn) -> [run, {busy, error, result}]: a button's or a form's call.
export function useAction(fn) {
  const [state, setState] = useState({ busy: false, error: null, result: null });
  const run = async (...args) => {
    setState({ busy: true, error: null, result: null });
    try {
      const result = await fn(...args);
      setState({ busy: false, error: null, result });
      return result;
    } catch (error) {
      setState({ busy: false, error, result: null });
      return undefined;
    }
  };
  return [run, state];
}

export function Field({ label, hint, children, id }) {
  return html`<div class="field"><label for=${id}>${label}</label>${children}${hint ? html`<small id=${id + "-hint"}>${hint}</small>` : null}</div>`;
}

export function Input({ label, hint, value, onInput, type = "text", ...rest }) {
  const [id] = useState(() => uid());
  return html`<${Field} label=${label} hint=${hint} id=${id}>
    <input id=${id} type=${type} value=${value ?? ""} onInput=${(e) => onInput(e.currentTarget.value)}
      aria-describedby=${hint ? id + "-hint" : undefined} ...${rest} />
  </${Field}>`;
}

export function TextArea({ label, hint, value, onInput, rows = 4, ...rest }) {
  const [id] = useState(() => uid());
  return html`<${Field} label=${label} hint=${hint} id=${id}>
    <textarea id=${id} rows=${rows} value=${value ?? ""} onInput=${(e) => onInput(e.currentTarget.value)}
      aria-describedby=${hint ? id + "-hint" : undefined} ...${rest}></textarea>
  </${Field}>`;
}

export function Select({ label, value, onChange, options, hint, ...rest }) {
  const [id] = useState(() => uid());
  return html`<${Field} label=${label} hint=${hint} id=${id}>
    <select id=${id} value=${value ?? ""} onChange=${(e) => onChange(e.currentTarget.value)} ...${rest}>
      ${options.map((o) => html`<option value=${o.value} key=${o.value}>${o.label}</option>`)}
    </select>
  </${Field}>`;
}

export function Button({ busy, children, kind = "", ...rest }) {
  return html`<button class=${kind} disabled=${busy || rest.disabled} aria-busy=${busy ? "true" : undefined} ...${rest}>${children}</button>`;
}

export function Page({ title, actions, children }) {
  useEffect(() => { document.title = `${title} · Knowrithm`; }, [title]);
  return html`<section class="page" aria-labelledby="page-title">
    <header class="page-head"><h1 id="page-title" tabindex="-1">${title}</h1>${actions ? html`<div class="actions">${actions}</div>` : null}</header>
    ${children}
  </section>`;
}

export function Loading({ what = "Loading" }) {
  return html`<p class="muted" role="status">${what}…</p>`;
}

export function Empty({ children }) {
  return html`<p class="empty">${children}</p>`;
}

export function Progress({ value, label }) {
  const pct = Math.round((value || 0) * 100);
  return html`<progress max="100" value=${pct} aria-label=${label}>${pct}%</progress>`;
}

export function Status({ value }) {
  const v = String(value || "unknown");
  return html`<span class=${"badge s-" + v.replace(/[^a-z_]/gi, "")}>${v.replace(/_/g, " ")}</span>`;
}

export function Pager({ pagination, onPage }) {
  if (!pagination || (pagination.pages || 0) <= 1) return null;
  const { page, pages } = pagination;
  return html`<nav class="pager" aria-label="Pages">
    <button disabled=${page <= 1} onClick=${() => onPage(page - 1)}>Previous</button>
    <span>Page ${page} of ${pages}</span>
    <button disabled=${page >= pages} onClick=${() => onPage(page + 1)}>Next</button>
  </nav>`;
}

export function Dialog({ title, onClose, children }) {
  const ref = useRef(null);
  useEffect(() => {
    const d = ref.current;
    d.showModal();
    return () => d.open && d.close();
  }, []);
  return html`<dialog ref=${ref} onClose=${onClose} aria-label=${title}>
    <header class="dialog-head"><h2>${title}</h2><button class="ghost" onClick=${onClose} aria-label="Close">×</button></header>
    ${children}
  </dialog>`;
}

export function when(value) {
  if (!value) return "—";
  const d = new Date(value);
  return isNaN(d) ? String(value) : d.toLocaleString();
}

export function bytes(n) {
  if (n == null) return "—";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function seconds(start, end) {
  if (!start || !end) return "—";
  const s = (new Date(end) - new Date(start)) / 1000;
  return s >= 0 ? `${s.toFixed(1)} s` : "—";
}

// Keeps calling fn while `active` is true, every `ms`.
export function usePoll(fn, ms, active) {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    if (!active) return undefined;
    const t = setInterval(() => saved.current(), ms);
    return () => clearInterval(t);
  }, [active, ms]);
}

export function CopyButton({ text, label = "Copy" }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try { await navigator.clipboard.writeText(text); setDone(true); setTimeout(() => setDone(false), 2000); } catch { setDone(false); }
  };
  return html`<button type="button" onClick=${copy}>${done ? "Copied" : label}</button>`;
}
