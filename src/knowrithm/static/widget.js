/*! Knowrithm chat widget — plain JavaScript, no build step.
 *
 * Embed:
 *   <script>window.AIChatWidget = { agentId: "<agent id>", apiUrl: "https://host/api/v1" };</script>
 *   <script src="https://host/api/widget.js" async></script>
 *
 * Everything renders inside a shadow root, so the host page's CSS cannot reach the widget and
 * the widget's CSS cannot reach the page. The widget talks to the API with the visitor's lead
 * token only (never an API key): handshake -> agent -> lead form -> register -> conversation
 * -> chat, with answers pushed over Server-Sent Events (fetch stream, so the token can be sent
 * as a header) and HTTP polling as the fallback.
 */
(function () {
  "use strict";
  if (window.__knowrithmWidget) return;

  var SCRIPT = document.currentScript || (function () {
    var all = document.getElementsByTagName("script");
    for (var i = all.length - 1; i >= 0; i--) if (/widget\.js(\?|$)/.test(all[i].src || "")) return all[i];
    return null;
  })();
  var REPLY_TIMEOUT_MS = 90000;

  // ---- configuration: defaults < data attributes < window.AIChatWidget -----------------------
  function dataConfig(el) {
    if (!el) return {};
    var d = el.dataset || {}, out = {};
    var map = { agentId: "agentId", apiUrl: "apiUrl", primaryColor: "primaryColor", color: "primaryColor",
      position: "position", theme: "theme", buttonText: "buttonText", showBranding: "showBranding",
      pollingInterval: "pollingIntervalMs", autoOpen: "autoOpen", initialDelay: "initialOpenDelayMs",
      persistSession: "persistSession", welcome: "welcome", title: "title" };
    Object.keys(map).forEach(function (k) { if (d[k] !== undefined && d[k] !== "") out[map[k]] = d[k]; });
    return out;
  }

  function bool(v, dflt) {
    if (v === undefined || v === null || v === "") return dflt;
    if (typeof v === "boolean") return v;
    return ["1", "true", "yes", "on"].indexOf(String(v).toLowerCase()) >= 0;
  }

  function num(v, dflt) { var n = parseInt(v, 10); return isNaN(n) ? dflt : n; }

  function scriptOrigin() {
    try { return SCRIPT && SCRIPT.src ? new URL(SCRIPT.src, location.href).origin : null; } catch (e) { return null; }
  }

  function resolveApiBase(raw) {
    var fallback = (scriptOrigin() || "https://app.knowrithm.org") + "/api";
    if (!raw) return fallback;
    var url = String(raw).trim().replace(/\/+$/, "").replace(/\/v\d+$/, "");
    // Marketing hosts without /api are a common copy-paste mistake.
    if (/^https?:\/\/(www\.)?knowrithm\.(com|org)$/i.test(url)) return fallback;
    return url;
  }

  function readConfig() {
    var user = window.AIChatWidget;
    if (typeof user === "function") { try { user = user(); } catch (e) { user = {}; } }
    user = user || {};
    var app = user.appearance || {}, beh = user.behavior || user.behaviour || {};
    var merged = Object.assign({}, dataConfig(SCRIPT));
    Object.keys(user).forEach(function (k) { if (user[k] !== undefined) merged[k] = user[k]; });
    var position = String(app.position || app.placement || merged.position || "bottom-right").toLowerCase();
    position = { right: "bottom-right", left: "bottom-left", top: "top-right", bottom: "bottom-right" }[position] || position;
    if (["bottom-right", "bottom-left", "top-right", "top-left"].indexOf(position) < 0) position = "bottom-right";
    var color = app.primaryColor || merged.primaryColor || merged.color || "#2563eb";
    if (!/^#[0-9a-f]{3,8}$/i.test(color)) color = "#2563eb";
    var cfg = {
      agentId: merged.agentId ? String(merged.agentId) : "",
      apiBase: resolveApiBase(beh.apiUrl || merged.apiUrl),
      primaryColor: color,
      position: position,
      theme: app.theme || merged.theme || "light",
      buttonText: app.buttonText || merged.buttonText || "Chat with us",
      showBranding: bool(app.showBranding !== undefined ? app.showBranding : merged.showBranding, true),
      pollingIntervalMs: num(beh.pollingInterval || merged.pollingIntervalMs || merged.pollingInterval, 2500),
      autoOpen: bool(beh.autoOpen !== undefined ? beh.autoOpen : merged.autoOpen, false),
      initialOpenDelayMs: num(beh.initialDelay || merged.initialOpenDelayMs || merged.initialDelay, 0),
      persistSession: bool(beh.persistSession !== undefined ? beh.persistSession : merged.persistSession, true),
      welcome: merged.welcome || "",
      title: merged.title || "",
      callbacks: user.callbacks || {}
    };
    window.AIChatWidgetConfig = cfg;
    return cfg;
  }

  var cfg = readConfig();
  var STORE_KEY = "ai-agent-widget::" + cfg.agentId;

  // ---- state and persistence --------------------------------------------------------------------
  var state = { agent: null, session: load(), messages: [], pending: null, open: false, stream: null,
                pollTimer: null, streamOk: false, early: {} };

  function load() {
    if (!cfg.persistSession) return {};
    try { return JSON.parse(localStorage.getItem(STORE_KEY) || "{}") || {}; } catch (e) { return {}; }
  }

  function save() {
    if (!cfg.persistSession) return;
    state.session.agentId = cfg.agentId;
    state.session.updatedAt = new Date().toISOString();
    try { localStorage.setItem(STORE_KEY, JSON.stringify(state.session)); } catch (e) { /* private mode */ }
  }

  function fire(name, detail) {
    var cb = cfg.callbacks && cfg.callbacks[name];
    if (typeof cb === "function") { try { cb(detail); } catch (e) { /* a host bug must not break us */ } }
    try { window.dispatchEvent(new CustomEvent("knowrithm:" + name, { detail: detail })); } catch (e) { /* old browsers */ }
  }

  // ---- HTTP ------------------------------------------------------------------------------------
  function url(path) { return cfg.apiBase + "/v1" + path; }

  function errorText(body, status) {
    if (body && typeof body === "object") return body.error || body.message || ("HTTP " + status);
    return "HTTP " + status;
  }

  function request(method, path, body, opts) {
    opts = opts || {};
    var headers = { "Content-Type": "application/json", "Accept": "application/json" };
    if (opts.auth && state.session.accessToken) headers.Authorization = "Bearer " + state.session.accessToken;
    return fetch(url(path), { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined,
                              mode: "cors", credentials: "omit" })
      .then(function (resp) {
        return resp.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : {}; } catch (e) { data = { message: text }; }
          if (resp.status === 401 && opts.auth && !opts.retried &&
              (state.session.refreshToken || state.session.leadPayload)) {
            // Tokens expire: resume this visitor session with its refresh token, and retry once.
            return renewSession().then(function () {
              return request(method, path, body, Object.assign({}, opts, { retried: true }));
            });
          }
          if (!resp.ok || (data && data.success === false)) {
            var err = new Error(errorText(data, resp.status));
            err.status = resp.status;
            throw err;
          }
          return data;
        });
      });
  }

  // ---- API steps ---------------------------------------------------------------------------------
  function handshake() {
    return request("POST", "/website/handshake", { agent_id: cfg.agentId, url: location.href,
                                                   title: document.title, trigger_crawl: false })
      .catch(function () { return null; });
  }

  function fetchAgent() {
    return request("GET", "/agent/" + encodeURIComponent(cfg.agentId)).then(function (body) {
      var agent = body.agent || body;
      if (!agent || !agent.id) throw new Error("Agent not found");
      return agent;
    });
  }

  function register(payload) {
    return request("POST", "/lead/register", payload).then(function (body) {
      var tokens = body.tokens || {};
      var access = body.access_token || body.accessToken || tokens.access_token || tokens.accessToken;
      if (!access) throw new Error("Registration did not return a token");
      state.session.accessToken = access;
      state.session.refreshToken = body.refresh_token || body.refreshToken || tokens.refresh_token || null;
      state.session.leadData = body.lead || null;
      state.session.leadPayload = payload;
      save();
      fire("onLeadRegistered", body.lead);
      return body;
    });
  }

  function refreshSession() {
    return request("POST", "/lead/refresh", { refresh_token: state.session.refreshToken }).then(function (body) {
      var tokens = body.tokens || {};
      var access = body.access_token || tokens.access_token;
      if (!access) throw new Error("Refresh did not return a token");
      state.session.accessToken = access;
      state.session.refreshToken = body.refresh_token || tokens.refresh_token || state.session.refreshToken;
      save();
      return body;
    });
  }

  // The same session when its refresh token still works; otherwise a new session (registering
  // again never reaches an earlier session's conversation, so the next message starts a new one).
  function renewSession() {
    var resume = state.session.refreshToken ? refreshSession() : Promise.reject(new Error("no refresh token"));
    return resume.catch(function (err) {
      if (!state.session.leadPayload) throw err;
      return register(state.session.leadPayload).then(function (body) {
        state.session.conversationId = null;
        closeStream();
        save();
        return body;
      });
    });
  }

  function ensureConversation() {
    if (state.session.conversationId) return Promise.resolve(state.session.conversationId);
    return request("POST", "/conversation", { agent_id: cfg.agentId, title: "Website Chat" }, { auth: true })
      .then(function (body) {
        var id = (body.conversation && body.conversation.id) || body.id;
        state.session.conversationId = id;
        save();
        return id;
      });
  }

  function loadHistory() {
    return request("GET", "/conversation/" + state.session.conversationId + "/messages?page=1&per_page=100",
                   null, { auth: true })
      .then(function (body) { state.messages = body.messages || []; render(); });
  }

  function sendMessage(text) {
    var local = { id: "local-" + Date.now(), role: "user", content: text, created_at: new Date().toISOString() };
    state.messages.push(local);
    state.pending = { localId: local.id, messageId: null, startedAt: Date.now(), draft: "" };
    render();
    fire("onMessage", local);
    function post() {
      return ensureConversation().then(function (convId) {
        openStream();
        return request("POST", "/conversation/" + convId + "/chat", { message: text }, { auth: true });
      });
    }
    return post().catch(function (err) {
      // A new visitor session (or a conversation deleted by the company) cannot reach the old
      // conversation: continue in a new one.
      if (err.status !== 404 || !state.session.conversationId) throw err;
      state.session.conversationId = null;
      closeStream();
      save();
      return post();
    }).then(function (ack) {
      local.id = ack.message_id || local.id;
      if (state.pending) state.pending.messageId = ack.message_id;
      var early = state.early[ack.message_id];
      state.early = {};
      if (early) dispatch(early[0], early[1], true);
      if (!state.streamOk) schedulePoll(1000);
    }).catch(function (err) {
      if (err.status === 404 && state.session.conversationId) {
        // The conversation was deleted by the company: start a new one next time.
        state.session.conversationId = null;
        save();
      }
      state.pending = null;
      showError("Your message could not be sent: " + err.message);
      render();
    });
  }

  // ---- answers: SSE over fetch, polling as the fallback --------------------------------------------
  function closeStream() {
    if (state.stream && state.stream.abort) state.stream.abort();
    state.stream = null;
    state.streamOk = false;
  }

  function openStream() {
    if (state.stream || !window.ReadableStream || !window.TextDecoder || !state.session.conversationId) return;
    var controller = window.AbortController ? new AbortController() : null;
    state.stream = controller || {};
    fetch(url("/conversation/" + state.session.conversationId + "/messages/stream"), {
      headers: { "Accept": "text/event-stream", "Authorization": "Bearer " + state.session.accessToken },
      signal: controller ? controller.signal : undefined, mode: "cors", credentials: "omit"
    }).then(function (resp) {
      if (!resp.ok || !resp.body) throw new Error("stream " + resp.status);
      state.streamOk = true;
      var reader = resp.body.getReader(), decoder = new TextDecoder(), buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) throw new Error("stream closed");
          buffer += decoder.decode(chunk.value, { stream: true });
          var idx;
          while ((idx = buffer.indexOf("\n\n")) >= 0) {
            handleBlock(buffer.slice(0, idx));
            buffer = buffer.slice(idx + 2);
          }
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      state.stream = null;
      state.streamOk = false;
      if (state.pending) schedulePoll(1000);
      setTimeout(function () { if (state.session.conversationId) openStream(); }, 30000);
    });
  }

  function handleBlock(block) {
    var event = "message", data = "";
    block.split("\n").forEach(function (line) {
      if (line.indexOf("event:") === 0) event = line.slice(6).trim();
      else if (line.indexOf("data:") === 0) data += line.slice(5).replace(/^ /, "");
    });
    var payload;
    try { payload = JSON.parse(data); } catch (e) { return; }
    if (!payload || (payload.conversation_id && payload.conversation_id !== state.session.conversationId)) return;
    var pending = state.pending;
    if (pending && !pending.messageId && event === "chat_response") {
      // The answer can beat the acknowledgement; keep it until we know our message id.
      state.early[payload.message_id] = [event, payload];
      return;
    }
    var mine = pending && payload.message_id === pending.messageId;
    dispatch(event, payload, mine);
  }

  function dispatch(event, payload, mine) {
    var pending = state.pending;
    if (event === "chat_delta" && mine) {
      pending.draft += payload.delta || "";
      render();
    } else if (event === "chat_response" && mine) {
      if ((payload.status || "completed") === "failed") {
        state.pending = null;
        showError(payload.error || "The assistant could not answer.");
        render();
      } else if (payload.message) {
        receive(payload.message);
      }
    }
  }

  function schedulePoll(delay) {
    clearTimeout(state.pollTimer);
    state.pollTimer = setTimeout(poll, delay || cfg.pollingIntervalMs);
  }

  function poll() {
    if (!state.pending || !state.session.conversationId) return;
    if (Date.now() - state.pending.startedAt > REPLY_TIMEOUT_MS) {
      state.pending = null;
      showError("No reply yet. Please try again in a moment.");
      render();
      return;
    }
    loadHistory().then(function () {
      var p = state.pending;
      if (!p) return;
      var reply = state.messages.filter(function (m) {
        return m.role === "assistant" && p.messageId && m.reply_to_id === p.messageId;
      })[0];
      if (reply) receive(reply); else schedulePoll(1000);
    }).catch(function () { schedulePoll(); });
  }

  function receive(message) {
    state.pending = null;
    clearTimeout(state.pollTimer);
    var known = state.messages.some(function (m) { return m.id === message.id; });
    if (!known) state.messages.push(message);
    render();
    fire("onResponse", message);
  }

  // ---- UI ---------------------------------------------------------------------------------------
  var host = document.createElement("div");
  host.id = "knowrithm-chat-widget";
  host.setAttribute("data-knowrithm-widget", "");
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;

  var dark = cfg.theme === "dark" ||
    (cfg.theme === "auto" && window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches);
  var vertical = cfg.position.indexOf("top") === 0 ? "top" : "bottom";
  var horizontal = cfg.position.indexOf("left") > 0 ? "left" : "right";

  var CSS = [
    ":host{all:initial}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif}",
    ".kw{position:fixed;" + vertical + ":20px;" + horizontal + ":20px;z-index:2147483000;font-size:14px;line-height:1.45}",
    ".launcher{background:" + cfg.primaryColor + ";color:#fff;border:0;border-radius:999px;padding:12px 18px;cursor:pointer;",
    "font-size:14px;font-weight:600;box-shadow:0 6px 20px rgba(0,0,0,.2)}",
    ".panel{display:none;width:360px;max-width:calc(100vw - 40px);height:540px;max-height:calc(100vh - 40px);flex-direction:column;",
    "background:" + (dark ? "#111827" : "#fff") + ";color:" + (dark ? "#f3f4f6" : "#111827") + ";border-radius:14px;",
    "box-shadow:0 12px 40px rgba(0,0,0,.25);overflow:hidden}",
    ".open .panel{display:flex}.open .launcher{display:none}",
    ".head{background:" + cfg.primaryColor + ";color:#fff;padding:12px 14px;display:flex;align-items:center;gap:10px}",
    ".head img{width:28px;height:28px;border-radius:50%;object-fit:cover}",
    ".head .t{flex:1;font-weight:600}.close{background:none;border:0;color:#fff;font-size:20px;cursor:pointer}",
    ".body{flex:1;overflow-y:auto;padding:14px;display:flex;flex-direction:column;gap:10px}",
    ".msg{max-width:85%;padding:9px 12px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}",
    ".user{align-self:flex-end;background:" + cfg.primaryColor + ";color:#fff}",
    ".assistant{align-self:flex-start;background:" + (dark ? "#1f2937" : "#f3f4f6") + "}",
    ".typing{opacity:.7;font-style:italic}",
    ".sources{margin-top:8px;padding-top:6px;border-top:1px solid rgba(127,127,127,.3);font-size:12px}",
    ".sources ol{margin:4px 0 0 18px;padding:0}.sources a{color:inherit}",
    ".sources code.sql{display:block;margin-top:2px;font-size:11px;white-space:pre-wrap;word-break:break-word;opacity:.8}",
    "sup.cite{font-size:10px;font-weight:600;margin:0 1px}",
    ".fb{margin-top:6px;display:flex;gap:6px}.fb button{background:none;border:1px solid rgba(127,127,127,.4);",
    "border-radius:6px;cursor:pointer;padding:1px 6px;color:inherit}.fb button.on{background:rgba(127,127,127,.25)}",
    ".rate{align-self:center;text-align:center;font-size:13px;opacity:.9}.rate button{background:none;border:0;",
    "cursor:pointer;font-size:20px;color:#f59e0b;padding:0 2px}",
    ".error{color:#b91c1c;background:#fee2e2;border-radius:8px;padding:8px 10px;font-size:13px}",
    "form.lead{display:flex;flex-direction:column;gap:8px}",
    "form.lead input{padding:8px 10px;border:1px solid #d1d5db;border-radius:8px;font-size:14px}",
    "form.lead button,.composer button{background:" + cfg.primaryColor + ";color:#fff;border:0;border-radius:8px;",
    "padding:9px 12px;cursor:pointer;font-weight:600}",
    ".composer{display:flex;gap:8px;padding:10px;border-top:1px solid rgba(127,127,127,.25)}",
    ".composer textarea{flex:1;resize:none;height:40px;padding:8px;border:1px solid #d1d5db;border-radius:8px;font-size:14px}",
    ".brand{text-align:center;font-size:11px;opacity:.6;padding:4px 0 8px}"
  ].join("");

  root.innerHTML = "<style>" + CSS + "</style>" +
    "<div class='kw' part='widget'>" +
    "<button class='launcher' type='button'></button>" +
    "<div class='panel' role='dialog' aria-label='Chat'>" +
    "<div class='head'><img alt='' hidden><span class='t'></span><button class='close' type='button' aria-label='Close'>&times;</button></div>" +
    "<div class='body' aria-live='polite'></div>" +
    "<form class='composer' hidden><textarea placeholder='Type your question...' aria-label='Message'></textarea>" +
    "<button type='submit'>Send</button></form>" +
    "<div class='brand' hidden>Powered by Knowrithm</div>" +
    "</div></div>";

  var el = {
    wrap: root.querySelector(".kw"), launcher: root.querySelector(".launcher"), title: root.querySelector(".t"),
    avatar: root.querySelector(".head img"), body: root.querySelector(".body"), composer: root.querySelector(".composer"),
    input: root.querySelector(".composer textarea"), brand: root.querySelector(".brand")
  };
  el.launcher.textContent = cfg.buttonText;
  el.title.textContent = cfg.title || "Chat";
  el.brand.hidden = !cfg.showBranding;
  var errorMessage = null, view = "loading";

  function node(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function showError(text) { errorMessage = text; fire("onError", text); render(); }

  function sourceList(message) {
    var list = (message.sources || []).map(function (s) {
      return { n: s.source_number || s.number, name: s.document_name || s.name || s.label || "Source",
               url: s.url || s.link || null, cited: s.cited !== false,
               sql: s.type === "database" ? s.sql : null };
    });
    if (!list.length) {
      ((message.metadata || {}).all_sources || []).forEach(function (label, i) {
        var m = /Source\s+(\d+):\s*(.+?)(?:\s+\((https?:[^)]+)\))?$/.exec(label);
        list.push({ n: m ? +m[1] : i + 1, name: m ? m[2] : label, url: m ? m[3] : null, cited: true });
      });
    }
    var cited = list.filter(function (s) { return s.cited; });
    return cited.length ? cited : list;
  }

  function renderContent(container, text) {
    // [Source 1] / [Source 1, 2] become superscript footnote markers; everything else is text.
    var re = /\[Sources?\s+([\d,\s&and]+)\]/gi, last = 0, m;
    while ((m = re.exec(text)) !== null) {
      container.appendChild(document.createTextNode(text.slice(last, m.index)));
      container.appendChild(node("sup", "cite", "[" + m[1].match(/\d+/g).join(",") + "]"));
      last = re.lastIndex;
    }
    container.appendChild(document.createTextNode(text.slice(last)));
  }

  function feedback(message, box) {
    var fb = node("div", "fb");
    [["up", "\u2713 Helpful"], ["down", "\u2717 Not helpful"]].forEach(function (pair) {
      var b = node("button", message.user_feedback === pair[0] ? "on" : "", pair[1]);
      b.type = "button";
      b.setAttribute("aria-label", pair[0] === "up" ? "Helpful" : "Not helpful");
      b.onclick = function () {
        request("POST", "/message/" + message.id + "/feedback", { rating: pair[0] }, { auth: true })
          .then(function () { message.user_feedback = pair[0]; render(); }).catch(function () { /* optional */ });
      };
      fb.appendChild(b);
    });
    box.appendChild(fb);
  }

  // After an answer the visitor may rate the whole conversation (1-5): the company's CSAT.
  function ratingPrompt() {
    var box = node("div", "rate");
    if (state.session.rated) {
      box.textContent = "Thanks for rating this chat " + state.session.rated + "/5.";
      return box;
    }
    box.appendChild(node("div", "", "How was this chat?"));
    [1, 2, 3, 4, 5].forEach(function (n) {
      var b = node("button", "", "\u2605");
      b.type = "button";
      b.title = n + "/5";
      b.setAttribute("aria-label", "Rate " + n + " out of 5");
      b.onclick = function () {
        request("POST", "/conversation/" + state.session.conversationId + "/rating", { rating: n }, { auth: true })
          .then(function () { state.session.rated = n; save(); render(); }).catch(function () { /* optional */ });
      };
      box.appendChild(b);
    });
    return box;
  }

  function renderMessage(message) {
    var box = node("div", "msg " + (message.role === "user" ? "user" : "assistant"));
    box.setAttribute("data-role", message.role);
    if (message.id) box.setAttribute("data-id", message.id);
    renderContent(box, message.content || "");
    if (message.role === "assistant") {
      var sources = sourceList(message);
      if (sources.length) {
        var wrap = node("div", "sources");
        wrap.appendChild(node("strong", "", "Sources"));
        var ol = node("ol");
        sources.forEach(function (s) {
          var li = node("li");
          li.value = s.n;
          if (s.url && /^https?:\/\//i.test(s.url)) {
            var a = node("a", "", s.name);
            a.href = s.url; a.target = "_blank"; a.rel = "noopener noreferrer";
            li.appendChild(a);
          } else {
            li.textContent = s.name;
          }
          if (s.sql) li.appendChild(node("code", "sql", s.sql)); // the query a database answer ran
          ol.appendChild(li);
        });
        wrap.appendChild(ol);
        box.appendChild(wrap);
      }
      if (message.id && String(message.id).indexOf("local-") !== 0) feedback(message, box);
    }
    return box;
  }

  function leadForm() {
    var form = node("form", "lead");
    form.appendChild(node("p", "", "Please introduce yourself so we can follow up if needed."));
    [["first_name", "First name", "text", true], ["last_name", "Last name", "text", true],
     ["email", "Email", "email", true], ["phone", "Phone (optional)", "tel", false]].forEach(function (f) {
      var input = node("input");
      input.name = f[0]; input.placeholder = f[1]; input.type = f[2]; input.required = f[3];
      input.setAttribute("aria-label", f[1]);
      form.appendChild(input);
    });
    var submit = node("button", "", "Start chat");
    submit.type = "submit";
    form.appendChild(submit);
    form.onsubmit = function (e) {
      e.preventDefault();
      var v = function (n) { return (form.elements[n].value || "").trim(); };
      var payload = { first_name: v("first_name"), last_name: v("last_name"), email: v("email"), phone: v("phone"),
                      agent_id: cfg.agentId, source: "website_chatbot" };
      submit.disabled = true;
      errorMessage = null;
      register(payload).then(ensureConversation).then(function () {
        view = "chat";
        return loadHistory();
      }).then(openStream).catch(function (err) {
        submit.disabled = false;
        showError("Could not start the chat: " + err.message);
      });
    };
    return form;
  }

  function welcomeText() {
    if (cfg.welcome) return cfg.welcome;
    var a = state.agent || {};
    return "Hi! I'm " + (a.name || "your assistant") + "." + (a.description ? " " + a.description : "") +
      " How can I help?";
  }

  function render() {
    el.wrap.classList.toggle("open", state.open);
    el.body.innerHTML = "";
    if (view === "unavailable") {
      el.body.appendChild(node("div", "error", errorMessage || "This chat is not available."));
      el.composer.hidden = true;
      return;
    }
    if (view === "loading") {
      el.body.appendChild(node("div", "msg assistant typing", "Loading..."));
    } else if (view === "lead") {
      el.body.appendChild(node("div", "msg assistant", welcomeText()));
      el.body.appendChild(leadForm());
    } else {
      if (!state.messages.length) el.body.appendChild(node("div", "msg assistant welcome", welcomeText()));
      state.messages.forEach(function (m) { el.body.appendChild(renderMessage(m)); });
      var answered = state.messages.some(function (m) { return m.role === "assistant" && String(m.id).indexOf("local-") !== 0; });
      if (answered && !state.pending && state.session.conversationId) el.body.appendChild(ratingPrompt());
      if (state.pending) {
        var draft = state.pending.draft;
        el.body.appendChild(node("div", "msg assistant typing", draft || "Thinking..."));
      }
    }
    if (errorMessage && view !== "unavailable") el.body.appendChild(node("div", "error", errorMessage));
    el.composer.hidden = view !== "chat";
    el.body.scrollTop = el.body.scrollHeight;
  }

  function setOpen(open) {
    state.open = open;
    render();
    fire(open ? "onOpen" : "onClose", {});
    if (open && view === "chat") setTimeout(function () { el.input.focus(); }, 0);
  }

  el.launcher.onclick = function () { setOpen(true); };
  root.querySelector(".close").onclick = function () { setOpen(false); };
  el.composer.onsubmit = function (e) {
    e.preventDefault();
    var text = el.input.value.trim();
    if (!text || state.pending) return;
    el.input.value = "";
    errorMessage = null;
    sendMessage(text);
  };
  el.input.onkeydown = function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); el.composer.requestSubmit ? el.composer.requestSubmit() : el.composer.onsubmit(e); }
  };

  // ---- start --------------------------------------------------------------------------------------
  function start() {
    document.body.appendChild(host);
    render();
    if (!cfg.agentId) {
      view = "unavailable";
      errorMessage = "Chat is not configured: missing agentId.";
      render();
      return;
    }
    handshake();
    fetchAgent().then(function (agent) {
      state.agent = agent;
      el.title.textContent = cfg.title || agent.name || "Chat";
      if (agent.avatar_url) { el.avatar.src = agent.avatar_url; el.avatar.hidden = false; }
      if (state.session.accessToken && state.session.conversationId) {
        view = "chat";
        return loadHistory().then(openStream).catch(function () {
          if (state.session.accessToken && !state.session.conversationId) {
            // The session could not be resumed and a new one was opened: continue there.
            view = "chat";
            render();
            return;
          }
          // A stale session (deleted conversation, revoked lead): start over with the form.
          state.session = {};
          save();
          view = "lead";
          render();
        });
      }
      view = state.session.accessToken ? "chat" : "lead";
      render();
    }).catch(function (err) {
      view = "unavailable";
      errorMessage = err.status === 404 ? "This chat is not available: the assistant was not found."
                                        : "This chat is not available right now.";
      render();
    });
    if (cfg.autoOpen) setTimeout(function () { setOpen(true); }, cfg.initialOpenDelayMs);
  }

  window.__knowrithmWidget = true;
  window.KnowrithmWidget = {
    open: function () { setOpen(true); }, close: function () { setOpen(false); },
    toggle: function () { setOpen(!state.open); },
    reset: function () { state.session = {}; state.messages = []; save(); view = "lead"; render(); },
    dispatchWidgetEvent: fire, config: cfg
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
