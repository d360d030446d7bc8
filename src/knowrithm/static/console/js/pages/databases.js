// Database connections: create, test, analyse, the schema snapshot and a text-to-SQL playground.
import { api } from "../api.js";
import { html, useState, Page, Loading, Empty, ErrorBox, Notice, Input, Select, Button, Status, TextArea, useLoad, useAction, when } from "../ui.js";
import { AgentPicker, DataTable } from "./common.js";

const TYPES = ["postgresql", "mysql", "sqlite", "mongodb", "mssql", "cockroachdb"];

export function Databases() {
  const [agentId, setAgentId] = useState("");
  const [f, setF] = useState({ name: "", database_type: "postgresql", url: "" });
  const [open, setOpen] = useState(null);
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const list = useLoad(() => api.get("/database-connection", { agent_id: agentId, per_page: 100 }), [agentId]);
  const conns = list.data?.connections || list.data?.connection || [];
  const [add, added] = useAction(async () => {
    if (!agentId) throw new Error("Choose the agent that will answer from this database.");
    const r = await api.post("/sdk/database", { ...f, agent_id: agentId });
    setF({ ...f, name: "", url: "" });
    list.reload();
    return r;
  });
  return html`<${Page} title="Databases">
    <form class="panel" onSubmit=${(e) => { e.preventDefault(); add(); }}>
      <h2>Connect a database</h2>
      <${AgentPicker} value=${agentId} onChange=${setAgentId} />
      <div class="row">
        <${Input} label="Name" required value=${f.name} onInput=${set("name")} />
        <${Select} label="Type" value=${f.database_type} onChange=${set("database_type")} options=${TYPES.map((t) => ({ value: t, label: t }))} />
      </div>
      <${Input} label="Connection URL" required autocomplete="off" value=${f.url} onInput=${set("url")}
        placeholder="postgresql://reader:secret@db.example.com:5432/shop" hint="Stored encrypted; use a read-only account." />
      <${ErrorBox} error=${added.error} />
      <${Notice}>${added.result?.message}</${Notice}>
      <${Button} kind="primary" busy=${added.busy} type="submit">Connect</${Button}>
    </form>
    <${ErrorBox} error=${list.error} />
    ${list.loading && !list.data ? html`<${Loading} />` : null}
    ${list.data && !conns.length ? html`<${Empty}>No database connections yet.</${Empty}>` : null}
    <ul class="cards wide">${conns.map((c) => html`<li class="card" key=${c.id}>
      <h2><bdi>${c.name}</bdi></h2>
      <p><${Status} value=${c.status || (c.is_active ? "active" : "inactive")} /> <span class="muted small">${c.database_type} · tested ${when(c.last_tested_at || c.last_tested)}</span></p>
      <${ConnectionTools} conn=${c} open=${open === c.id} onToggle=${() => setOpen(open === c.id ? null : c.id)} onChange=${list.reload} />
    </li>`)}</ul>
  </${Page}>`;
}

function ConnectionTools({ conn, open, onToggle, onChange }) {
  const [test, tested] = useAction(async () => { const r = await api.post(`/database-connection/${conn.id}/test`); onChange(); return r; });
  const [analyse, analysed] = useAction(async () => { const r = await api.post(`/database-connection/${conn.id}/analyze`); onChange(); return r; });
  const [remove, removed] = useAction(async () => {
    if (!confirm(`Delete the connection "${conn.name}"?`)) return null;
    await api.del("/sdk/database/" + conn.id);
    onChange();
    return true;
  });
  return html`<div>
    <div class="actions">
      <${Button} busy=${tested.busy} onClick=${test}>Test</${Button}>
      <${Button} busy=${analysed.busy} onClick=${analyse}>Analyse</${Button}>
      <button onClick=${onToggle} aria-expanded=${open}>Schema and SQL</button>
      <${Button} kind="danger" busy=${removed.busy} onClick=${remove}>Delete</${Button}>
    </div>
    <${ErrorBox} error=${tested.error || analysed.error || removed.error} />
    ${tested.result ? html`<p class="notice" role="status">${tested.result.message || (tested.result.success ? "Connection works." : "Test finished.")}</p>` : null}
    ${analysed.result ? html`<p class="notice" role="status">${analysed.result.message || "Analysis finished."}</p>` : null}
    ${open ? html`<${Snapshot} conn=${conn} /><${Playground} conn=${conn} />` : null}
  </div>`;
}

function Snapshot({ conn }) {
  const { data, error } = useLoad(() => api.get(`/database-connection/${conn.id}/table`, { per_page: 100 }), [conn.id]);
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!data) return html`<${Loading} what="Loading the schema" />`;
  const tables = (data.tables || data.items || []).map((t) => ({ table: t.table_name || t.name, rows: t.row_count,
    columns: (t.columns_info || t.columns || []).map((c) => c.name || c).join(", ") }));
  return html`<h3>Schema snapshot</h3>${tables.length ? html`<${DataTable} rows=${tables} caption="Tables" />` : html`<p class="empty">No tables yet: run Analyse.</p>`}`;
}

function Playground({ conn }) {
  const [q, setQ] = useState("");
  const [run, { busy, error, result }] = useAction(() => api.post(`/database-connection/${conn.id}/text-to-sql`, { question: q, execute: true, result_limit: 50 }));
  const rows = result?.rows || result?.results || result?.data || [];
  return html`<form class="playground" onSubmit=${(e) => { e.preventDefault(); run(); }}>
    <h3>Text to SQL</h3>
    <${TextArea} label="Question" rows="2" required value=${q} onInput=${setQ} placeholder="How many orders were placed last week?" />
    <${Button} kind="primary" busy=${busy} type="submit">Run</${Button}>
    <${ErrorBox} error=${error} />
    ${result ? html`${result.sql ? html`<pre class="wrap code">${result.sql}</pre>` : null}
      ${result.explanation ? html`<p class="muted">${result.explanation}</p>` : null}
      ${Array.isArray(rows) && rows.length && typeof rows[0] === "object" ? html`<${DataTable} rows=${rows} caption="Results" />` : html`<p class="muted">${result.message || `${rows.length || 0} rows`}</p>`}` : null}
  </form>`;
}
