// Agents: list, create (provider and model pickers from the catalog), edit prompt, personality
// and LLM settings, test the settings with a real call, a streamed test console, the embed code.
import { api, stream, waitTask } from "../api.js";
import { html, useState, useEffect, useRef, Page, Loading, Empty, ErrorBox, Notice, Input, TextArea, Select, Button,
  Status, Link, navigate, useLoad, useAction, Pager, when, CopyButton } from "../ui.js";

export function Agents() {
  const [page, setPage] = useState(1);
  const [search, setSearch] = useState("");
  const [status, setStatus] = useState("");
  const { data, error, loading } = useLoad(() => api.get("/agent", { page, per_page: 20, search, status }), [page, search, status]);
  return html`<${Page} title="Agents" actions=${html`<${Link} class="button primary" href="/app/agents/new">New agent</${Link}>`}>
    <div class="filters">
      <${Input} label="Search" type="search" value=${search} onInput=${(v) => { setSearch(v); setPage(1); }} />
      <${Select} label="Status" value=${status} onChange=${(v) => { setStatus(v); setPage(1); }}
        options=${[{ value: "", label: "Any" }, ...["active", "inactive", "training", "maintenance"].map((s) => ({ value: s, label: s }))]} />
    </div>
    <${ErrorBox} error=${error} />
    ${loading && !data ? html`<${Loading} />` : null}
    ${data && !data.agents.length ? html`<${Empty}>No agents yet. Create one to start answering questions.</${Empty}>` : null}
    ${data?.agents.length ? html`<ul class="cards" aria-label="Agents">
      ${data.agents.map((a) => html`<li class="card" key=${a.id}>
        <h2><${Link} href=${"/app/agents/" + a.id}><bdi>${a.name}</bdi></${Link}></h2>
        <p class="muted clamp"><bdi>${a.description || "No description"}</bdi></p>
        <p><${Status} value=${a.status} /> <span class="muted">${a.model_name || ""}</span></p>
        <p class="muted small">${a.total_conversations} conversations · ${a.documents} documents</p>
      </li>`)}
    </ul>` : null}
    <${Pager} pagination=${data?.pagination} onPage=${setPage} />
  </${Page}>`;
}

// The provider/model catalog as picker options.
function useCatalog() {
  return useLoad(() => api.get("/settings/providers"), []);
}

function ModelPicker({ catalog, kind, value, onChange }) {
  const providers = (kind === "llm" ? catalog.llm_providers : catalog.embedding_providers) || [];
  const provider = providers.find((p) => p.id === value.provider) || null;
  const models = (provider?.models || []).filter((m) => (m.model_type || m.type) === kind && !m.is_deprecated);
  const label = kind === "llm" ? "Chat" : "Embedding";
  return html`<div class="row">
    <${Select} label=${label + " provider"} value=${value.provider}
      onChange=${(p) => { const first = (providers.find((x) => x.id === p)?.models || []).find((m) => (m.model_type || m.type) === kind); onChange({ provider: p, model: first?.id || "" }); }}
      options=${[{ value: "", label: "Company default" }, ...providers.map((p) => ({ value: p.id, label: p.label + (p.requires_api_key ? " (needs a key)" : "") }))]} />
    <${Select} label=${label + " model"} value=${value.model} disabled=${!provider}
      onChange=${(m) => onChange({ ...value, model: m })}
      options=${[{ value: "", label: provider ? "Choose a model" : "—" }, ...models.map((m) => ({ value: m.id, label: m.display_name || m.name }))]} />
  </div>`;
}

function settingsPayload(llm, emb, extra) {
  const s = { ...extra };
  if (llm.provider && llm.model) { s.llm_provider_id = llm.provider; s.llm_model_id = llm.model; }
  if (emb.provider && emb.model) { s.embedding_provider_id = emb.provider; s.embedding_model_id = emb.model; }
  return s;
}

export function AgentNew() {
  const catalog = useCatalog();
  const [f, setF] = useState({ name: "", description: "", system_prompt: "" });
  const [llm, setLlm] = useState({ provider: "", model: "" });
  const [emb, setEmb] = useState({ provider: "", model: "" });
  const [key, setKey] = useState("");
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const [run, { busy, error }] = useAction(async () => {
    const extra = key ? { llm_api_key: key } : {};
    const body = { ...f, ...settingsPayload(llm, emb, extra) };
    const result = await api.post("/agent", body);
    const id = result.agent?.id || result.agent_id;
    navigate("/app/agents/" + id);
  });
  return html`<${Page} title="New agent">
    <form class="panel" onSubmit=${(e) => { e.preventDefault(); run(); }}>
      <${Input} label="Name" required maxlength="200" value=${f.name} onInput=${set("name")} />
      <${TextArea} label="Description" rows="2" value=${f.description} onInput=${set("description")} />
      <${TextArea} label="System prompt" rows="4" value=${f.system_prompt} onInput=${set("system_prompt")}
        hint="How the agent should behave. Its answers always come from your knowledge." />
      <${ErrorBox} error=${catalog.error} />
      ${catalog.data ? html`<fieldset><legend>Models</legend>
        <${ModelPicker} catalog=${catalog.data} kind="llm" value=${llm} onChange=${setLlm} />
        <${ModelPicker} catalog=${catalog.data} kind="embedding" value=${emb} onChange=${setEmb} />
        <${Input} label="Provider API key (optional)" type="password" autocomplete="off" value=${key} onInput=${setKey}
          hint="Stored encrypted; never shown again." />
      </fieldset>` : html`<${Loading} what="Loading the model catalog" />`}
      <${ErrorBox} error=${error} />
      <${Button} kind="primary" busy=${busy} type="submit">Create agent</${Button}>
    </form>
  </${Page}>`;
}

const TABS = [["settings", "Settings"], ["test", "Test console"], ["embed", "Embed"]];

export function AgentDetail({ params }) {
  const id = params[0];
  const [tab, setTab] = useState("settings");
  // GET /agent/<id> is the widget's public view (safe fields); the full record comes from the
  // company's list, searched by that name.
  const full = useLoad(async () => {
    const pub = await api.get("/agent/" + encodeURIComponent(id));
    const found = await api.get("/agent", { search: pub.agent.name, per_page: 100 });
    return found.agents.find((a) => a.id === id) || null;
  }, [id]);
  const name = full.data?.name || "Agent";
  const onKey = (e) => {
    const i = TABS.findIndex(([k]) => k === tab);
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      const next = TABS[(i + (e.key === "ArrowRight" ? 1 : TABS.length - 1)) % TABS.length][0];
      setTab(next);
      setTimeout(() => document.getElementById("tab-" + next)?.focus(), 0);
    }
  };
  return html`<${Page} title=${name}>
    <${ErrorBox} error=${full.error} />
    <div role="tablist" aria-label="Agent sections" class="tabs" onKeyDown=${onKey}>
      ${TABS.map(([k, label]) => html`<button role="tab" id=${"tab-" + k} key=${k} aria-selected=${tab === k}
        aria-controls=${"panel-" + k} tabindex=${tab === k ? 0 : -1} onClick=${() => setTab(k)}>${label}</button>`)}
    </div>
    <div role="tabpanel" id=${"panel-" + tab} aria-labelledby=${"tab-" + tab} class="tabpanel">
      ${tab === "settings" && full.data ? html`<${AgentSettings} agent=${full.data} onSaved=${full.reload} />` : null}
      ${tab === "settings" && !full.data && full.loading ? html`<${Loading} />` : null}
      ${tab === "test" ? html`<${TestConsole} agentId=${id} />` : null}
      ${tab === "embed" ? html`<${Embed} agentId=${id} />` : null}
    </div>
  </${Page}>`;
}

function traitsText(t) {
  if (!t) return "";
  if (typeof t === "string") return t;
  if (Array.isArray(t)) return t.join(", ");
  return Object.entries(t).map(([k, v]) => `${k}: ${v}`).join(", ");
}

function AgentSettings({ agent, onSaved }) {
  const catalog = useCatalog();
  const settings = useLoad(() => api.get("/settings/agent/" + agent.id).catch(() => null), [agent.id]);
  const [f, setF] = useState({ name: agent.name, description: agent.description || "", system_prompt: agent.system_prompt || "",
    status: agent.status, personality: traitsText(agent.personality_traits) });
  const [llm, setLlm] = useState({ provider: "", model: "" });
  const [emb, setEmb] = useState({ provider: "", model: "" });
  const [tune, setTune] = useState({ temperature: "", max_tokens: "", key: "" });
  useEffect(() => {
    const s = settings.data;
    if (!s) return;
    setLlm({ provider: s.llm_provider_id || "", model: s.llm_model_id || "" });
    setEmb({ provider: s.embedding_provider_id || "", model: s.embedding_model_id || "" });
    setTune({ temperature: s.llm_temperature ?? "", max_tokens: s.llm_max_tokens ?? "", key: "" });
  }, [settings.data]);
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const [save, saved] = useAction(async () => {
    const extra = {};
    if (tune.temperature !== "") extra.llm_temperature = Number(tune.temperature);
    if (tune.max_tokens !== "") extra.llm_max_tokens = Number(tune.max_tokens);
    if (tune.key) extra.llm_api_key = tune.key;
    const body = { name: f.name, description: f.description, system_prompt: f.system_prompt, status: f.status,
      personality_traits: f.personality ? f.personality.split(",").map((s) => s.trim()).filter(Boolean) : [],
      settings: settingsPayload(llm, emb, extra) };
    const r = await api.put("/sdk/agent/" + agent.id, body);
    onSaved();
    settings.reload();
    return r;
  });
  const [check, checked] = useAction(async () => {
    const s = await api.get("/settings/agent/" + agent.id);
    return await api.post("/settings/test/" + s.id, {});
  });
  const [remove, removed] = useAction(async () => {
    if (!confirm(`Delete the agent "${agent.name}"? It can be restored later.`)) return null;
    await api.del("/sdk/agent/" + agent.id);
    navigate("/app/agents");
    return true;
  });
  return html`<form class="panel" onSubmit=${(e) => { e.preventDefault(); save(); }}>
    <${Input} label="Name" required maxlength="200" value=${f.name} onInput=${set("name")} />
    <${TextArea} label="Description" rows="2" value=${f.description} onInput=${set("description")} />
    <${TextArea} label="System prompt" rows="6" value=${f.system_prompt} onInput=${set("system_prompt")} />
    <${Input} label="Personality" value=${f.personality} onInput=${set("personality")} hint="Comma-separated traits, e.g. friendly, concise." />
    <${Select} label="Status" value=${f.status} onChange=${set("status")}
      options=${["active", "inactive", "training", "maintenance"].map((s) => ({ value: s, label: s }))} />
    ${catalog.data ? html`<fieldset><legend>LLM settings</legend>
      <${ModelPicker} catalog=${catalog.data} kind="llm" value=${llm} onChange=${setLlm} />
      <${ModelPicker} catalog=${catalog.data} kind="embedding" value=${emb} onChange=${setEmb} />
      <div class="row">
        <${Input} label="Temperature" type="number" min="0" max="2" step="0.1" value=${tune.temperature} onInput=${(v) => setTune({ ...tune, temperature: v })} />
        <${Input} label="Max tokens" type="number" min="1" value=${tune.max_tokens} onInput=${(v) => setTune({ ...tune, max_tokens: v })} />
      </div>
      <${Input} label="Provider API key" type="password" autocomplete="off" value=${tune.key} onInput=${(v) => setTune({ ...tune, key: v })}
        hint=${settings.data?.llm_api_key_set ? `A key is stored (${settings.data.llm_api_key_preview || "hidden"}); type to replace it.` : "No key stored."} />
    </fieldset>` : html`<${ErrorBox} error=${catalog.error} />`}
    <${ErrorBox} error=${saved.error || removed.error} />
    <${Notice}>${saved.result ? "Saved." : ""}</${Notice}>
    <div class="actions">
      <${Button} kind="primary" busy=${saved.busy} type="submit">Save</${Button}>
      <${Button} type="button" busy=${checked.busy} onClick=${check}>Test settings</${Button}>
      <${Button} type="button" kind="danger" busy=${removed.busy} onClick=${remove}>Delete agent</${Button}>
    </div>
    <${ErrorBox} error=${checked.error} />
    ${checked.result ? html`<div class="notice" role="status"><strong>Settings test:</strong>
      <pre class="wrap">${JSON.stringify(checked.result, null, 2)}</pre></div>` : null}
  </form>`;
}

// Streams an answer over SSE (chat_delta events) and shows the final message with its sources.
export function TestConsole({ agentId }) {
  const [question, setQuestion] = useState("");
  const [turns, setTurns] = useState([]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const conv = useRef(null);
  const abort = useRef(null);
  useEffect(() => () => abort.current?.abort(), []);
  const update = (messageId, patch) => setTurns((ts) => ts.map((t) => (t.messageId === messageId ? { ...t, ...patch } : t)));
  const ask = async (e) => {
    e.preventDefault();
    const text = question.trim();
    if (!text) return;
    setBusy(true);
    setError(null);
    try {
      if (!conv.current) {
        const c = await api.post("/conversation", { agent_id: agentId, title: "Console test" });
        conv.current = c.conversation?.id || c.id;
        abort.current = new AbortController();
        const ready = new Promise((resolve) => {
          stream(`/conversation/${conv.current}/messages/stream`, (event, data) => {
            resolve();
            if (event === "chat_delta") setTurns((ts) => ts.map((t) => (t.messageId === data.message_id ? { ...t, answer: (t.answer || "") + data.delta } : t)));
            else if (event === "chat_status") update(data.message_id, { status: data.status });
            else if (event === "chat_response") {
              if (data.status === "failed") update(data.message_id, { status: "failed", error: data.error || "The agent could not answer." });
              else update(data.message_id, { status: "completed", answer: data.message?.content, message: data.message });
              setBusy(false);
            }
          }, abort.current.signal).catch((err) => { if (err.name !== "AbortError") setError(err); resolve(); });
          setTimeout(resolve, 3000);
        });
        await ready;
      }
      const ack = await api.post(`/conversation/${conv.current}/chat`, { message: text }, { follow: false });
      setTurns((ts) => [...ts, { messageId: ack.message_id, question: text, answer: "", status: "queued", taskUrl: ack.status_url }]);
      setQuestion("");
      // If the stream drops, the task result still brings the answer.
      waitTask(ack.status_url).then((r) => {
        setTurns((ts) => ts.map((t) => (t.messageId === ack.message_id && t.status !== "completed"
          ? { ...t, status: "completed", answer: r.content || r.response, message: r.message } : t)));
        setBusy(false);
      }, (err) => { update(ack.message_id, { status: "failed", error: err.message }); setBusy(false); });
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return html`<div class="console">
    <ol class="transcript" aria-live="polite" aria-label="Test conversation">
      ${turns.map((t) => html`<li key=${t.messageId}>
        <div class="msg user"><span class="role">You</span><p><bdi>${t.question}</bdi></p></div>
        <div class="msg assistant" data-status=${t.status}><span class="role">Agent</span>
          ${t.error ? html`<p class="error" role="alert">${t.error}</p>` : html`<p class="answer"><bdi>${t.answer || (t.status === "completed" ? "" : "…")}</bdi></p>`}
          <${Sources} message=${t.message} />
        </div>
      </li>`)}
    </ol>
    <form class="composer" onSubmit=${ask}>
      <${TextArea} label="Ask the agent" rows="2" value=${question} onInput=${setQuestion}
        onKeyDown=${(e) => { if (e.key === "Enter" && !e.shiftKey) ask(e); }} />
      <${Button} kind="primary" busy=${busy} type="submit">Ask</${Button}>
    </form>
    <${ErrorBox} error=${error} />
  </div>`;
}

export function Sources({ message }) {
  const sources = message?.sources || [];
  if (!sources.length) return null;
  return html`<details class="sources" open>
    <summary>Sources (${sources.length})</summary>
    <ol>${sources.map((s, i) => html`<li key=${i} class=${s.cited ? "cited" : ""}>
      <span class="num">[${s.source_number ?? s.number ?? i + 1}]</span>
      ${s.url && /^https?:/i.test(s.url) ? html`<a href=${s.url} rel="noopener noreferrer" target="_blank"><bdi>${s.document_name || s.name || s.url}</bdi></a>`
        : html`<bdi>${s.document_name || s.name || s.label || "Source"}</bdi>`}
      ${s.cited ? html` <span class="badge s-active">cited</span>` : null}
    </li>`)}</ol>
  </details>`;
}

function Embed({ agentId }) {
  const { data, error } = useLoad(() => api.get(`/agent/${agentId}/embed-code`), [agentId]);
  const [variant, setVariant] = useState("simple");
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!data) return html`<${Loading} />`;
  const code = data[variant] || data.embed_code;
  const preview = `/api/v1/test?agent_id=${encodeURIComponent(agentId)}`;
  return html`<div class="embed">
    <${Select} label="Snippet" value=${variant} onChange=${setVariant}
      options=${[{ value: "simple", label: "Simple" }, { value: "advanced", label: "With appearance options" }]} />
    <label for="embed-code">Paste this before the closing body tag of your site</label>
    <textarea id="embed-code" class="code" readonly rows="8" value=${code}></textarea>
    <div class="actions"><${CopyButton} text=${code} label="Copy embed code" /></div>
    <h2>Live preview</h2>
    <iframe class="preview" title="Widget preview" src=${preview} sandbox="allow-scripts allow-forms allow-same-origin"></iframe>
    <p class="muted small">The preview is a real page hosting the widget: a visitor who registers here becomes a lead.</p>
  </div>`;
}
