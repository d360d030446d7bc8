// The console's only door to the server: the public API at /api/v1, with JWT sign-in.
// Access tokens are refreshed silently (before they expire, and once on a 401); every
// failure becomes an ApiError whose message is the server's words (error envelope).

const BASE = "/api/v1";
const STORE = "knowrithm.console.session";
const STASH = "knowrithm.console.impersonator";

export class ApiError extends Error {
  constructor(message, { status = 0, code = "", details = null } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

let session = read(STORE);
const listeners = new Set();
let refreshing = null;
let timer = null;

function read(key) {
  try { return JSON.parse(localStorage.getItem(key) || "null"); } catch { return null; }
}

function write(key, value) {
  if (value) localStorage.setItem(key, JSON.stringify(value));
  else localStorage.removeItem(key);
}

export function getSession() { return session; }
export function onSession(fn) { listeners.add(fn); return () => listeners.delete(fn); }

export function setSession(next) {
  session = next;
  write(STORE, next);
  schedule();
  listeners.forEach((fn) => fn(next));
}

function tokenExpiry(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part)).exp * 1000;
  } catch { return 0; }
}

function schedule() {
  clearTimeout(timer);
  if (!session?.access_token) return;
  // Refresh a minute before the access token expires, so a busy page never sees a 401.
  const wait = tokenExpiry(session.access_token) - Date.now() - 60_000;
  timer = setTimeout(() => refresh().catch(() => {}), Math.max(wait, 5_000));
}

export function signedIn(body) {
  const user = body.user || session?.user;
  setSession({ access_token: body.access_token, refresh_token: body.refresh_token, user });
}

async function refresh() {
  if (!session?.refresh_token) throw new ApiError("Your session has ended. Sign in again.", { status: 401 });
  if (!refreshing) {
    const token = session.refresh_token;
    refreshing = fetch(BASE + "/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: token }),
    }).then(async (resp) => {
      const body = await parse(resp);
      if (!resp.ok) {
        // Another tab may have refreshed first (refresh tokens are single use).
        const stored = read(STORE);
        if (stored?.refresh_token && stored.refresh_token !== token) { setSession(stored); return; }
        setSession(null);
        throw failure(resp, body);
      }
      signedIn(body);
    }).finally(() => { refreshing = null; });
  }
  return refreshing;
}

async function parse(resp) {
  const type = resp.headers.get("Content-Type") || "";
  if (type.includes("application/json")) {
    try { return await resp.json(); } catch { return null; }
  }
  return await resp.text();
}

export function failure(resp, body) {
  const b = body && typeof body === "object" ? body : {};
  let message = b.error || b.message || b.detail;
  if (message && typeof message === "object") message = message.message || JSON.stringify(message);
  if (!message) message = `${resp.status} ${resp.statusText || "error"}`.trim();
  if (resp.status === 429) {
    const after = resp.headers.get("Retry-After");
    if (after) message += ` Try again in ${after} s.`;
  }
  return new ApiError(String(message), { status: resp.status, code: b.error_code || b.code || "", details: b.details || null });
}

function url(path, query) {
  const u = new URL(BASE + path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
  }
  return u.pathname + u.search;
}

function headers(extra) {
  const h = { Accept: "application/json", ...extra };
  if (session?.access_token) h.Authorization = "Bearer " + session.access_token;
  return h;
}

// request("GET", "/agent", {query}) / request("POST", "/agent", {body}) -> parsed JSON body.
// A 202 task acknowledgement is followed to its result, as the SDK does.
export async function request(method, path, { query, body, form, signal, follow = true, raw = false } = {}) {
  const send = () => {
    const init = { method, signal, headers: headers(body !== undefined ? { "Content-Type": "application/json" } : {}) };
    if (body !== undefined) init.body = JSON.stringify(body);
    if (form) init.body = form;
    return fetch(url(path, query), init);
  };
  let resp;
  try {
    resp = await send();
    if (resp.status === 401 && session?.refresh_token && path !== "/auth/login") {
      await refresh();
      resp = await send();
    }
  } catch (err) {
    if (err instanceof ApiError || err.name === "AbortError") throw err;
    throw new ApiError("The server could not be reached. Check your connection and try again.");
  }
  if (raw && resp.ok) return resp;
  const data = await parse(resp);
  if (!resp.ok) throw failure(resp, data);
  if (follow && resp.status === 202 && data && data.status_url) return await waitTask(data.status_url, signal);
  return data;
}

export const api = {
  get: (path, query, opts) => request("GET", path, { query, ...opts }),
  post: (path, body, opts) => request("POST", path, { body, ...opts }),
  put: (path, body, opts) => request("PUT", path, { body, ...opts }),
  patch: (path, body, opts) => request("PATCH", path, { body, ...opts }),
  del: (path, body, opts) => request("DELETE", path, { body, ...opts }),
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls a task status URL until it completes; returns its result, throws its error.
export async function waitTask(statusUrl, signal, onProgress) {
  const path = statusUrl.replace(/^\/api\/v1/, "").replace(/^\/v1/, "");
  let delay = 300;
  for (let i = 0; i < 400; i++) {
    const body = await request("GET", path, { signal, follow: false });
    const status = String(body.status || "").toLowerCase();
    if (["completed", "success", "succeeded", "finished", "done"].includes(status)) return body.result ?? body;
    if (["failed", "error", "rejected"].includes(status)) {
      throw new ApiError(typeof body.error === "string" ? body.error : body.message || "The task failed.", { code: body.error_code });
    }
    if (onProgress) onProgress(body);
    await sleep(delay);
    delay = Math.min(delay * 1.5, 3000);
  }
  throw new ApiError("The server is still working on this. Check back in a minute.");
}

// Multipart upload with progress (fetch has no upload progress): resolves with the JSON body,
// including 207 partial results; rejects with an ApiError.
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const go = (retried) => {
      xhr.open("POST", BASE + path);
      const h = headers();
      for (const k in h) xhr.setRequestHeader(k, h[k]);
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress?.(e.loaded / e.total);
      xhr.onerror = () => reject(new ApiError("The upload was interrupted. Check your connection and try again."));
      xhr.onload = async () => {
        if (xhr.status === 401 && !retried && session?.refresh_token) {
          try { await refresh(); } catch (e) { reject(e); return; }
          go(true);
          return;
        }
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch { body = null; }
        if (xhr.status >= 200 && xhr.status < 300) resolve(body || {});
        else reject(failure({ status: xhr.status, statusText: xhr.statusText, headers: { get: (n) => xhr.getResponseHeader(n) } }, body));
      };
      xhr.send(form);
    };
    go(false);
  });
}

// Server-sent events over fetch (EventSource cannot send an Authorization header).
export async function stream(path, onEvent, signal) {
  let resp = await fetch(BASE + path, { headers: headers({ Accept: "text/event-stream" }), signal });
  if (resp.status === 401 && session?.refresh_token) {
    await refresh();
    resp = await fetch(BASE + path, { headers: headers({ Accept: "text/event-stream" }), signal });
  }
  if (!resp.ok) throw failure(resp, await parse(resp));
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (!data.length) continue;
      let payload = data.join("\n");
      try { payload = JSON.parse(payload); } catch { /* raw text */ }
      onEvent(event, payload);
    }
  }
}

export async function signOut() {
  const s = session;
  if (s?.access_token) {
    try { await api.post("/auth/logout", { refresh_token: s.refresh_token }); } catch { /* already gone */ }
  }
  write(STASH, null);
  setSession(null);
}

// Impersonation: the super admin's own session is kept aside and restored by stopImpersonating().
export function impersonate(body, target) {
  write(STASH, session);
  setSession({ access_token: body.access_token, refresh_token: body.refresh_token, user: target, impersonating: true });
}

export function impersonator() { return read(STASH); }

export function stopImpersonating() {
  const original = read(STASH);
  write(STASH, null);
  setSession(original);
}

schedule();
