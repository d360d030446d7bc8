// Administration: users (roles, status, impersonation), the model catalog, the audit log;
// for the super admin also companies (create, suspend, reactivate, delete, restore, cascade delete) and system health.
import { api, impersonate, getSession } from "../api.js";
import { html, useState, Page, Loading, Empty, ErrorBox, Notice, Input, Select, Button, Status, Pager, useLoad, useAction, when, navigate } from "../ui.js";
import { BarChart } from "../charts.js";
import { downloadJson } from "./privacy.js";

export function Companies() {
  const [status, setStatus] = useState("");
  const [search, setSearch] = useState("");
  const [page, setPage] = useState(1);
  const list = useLoad(() => (status === "deleted" ? api.get("/company/deleted") : api.get("/super-admin/company", { status, search, page, per_page: 25 })), [status, search, page]);
  const rows = list.data?.companies || list.data?.deleted_companies || list.data?.data || [];
  const [f, setF] = useState({ name: "", email: "" });
  const [create, created] = useAction(async () => { const r = await api.post("/company", f); setF({ name: "", email: "" }); list.reload(); return r; });
  const [act, acted] = useAction(async (c, what) => {
    if (what === "suspend") { if (!confirm(`Suspend "${c.name}"? Its users, API keys and widget stop working until it is reactivated.`)) return null; await api.post(`/company/${c.id}/suspend`); }
    if (what === "reactivate") await api.post(`/company/${c.id}/reactivate`);
    if (what === "delete") { if (!confirm(`Move "${c.name}" to the deleted companies? It can be restored until the nightly purge.`)) return null; await api.del("/company/" + c.id); }
    if (what === "restore") await api.patch(`/company/${c.id}/restore`);
    if (what === "purge") {
      const typed = prompt(`This permanently deletes "${c.name}" and everything it owns. Type the company name to confirm.`);
      if (typed !== c.name) throw new Error("The name did not match; nothing was deleted.");
      await api.del(`/company/${c.id}/cascade-delete`, { delete_related: true });
    }
    list.reload();
    return `Done: ${what} ${c.name}`;
  });
  return html`<${Page} title="Companies">
    <form class="panel" onSubmit=${(e) => { e.preventDefault(); create(); }}>
      <h2>Create a company</h2>
      <div class="row">
        <${Input} label="Name" required value=${f.name} onInput=${(v) => setF({ ...f, name: v })} />
        <${Input} label="Contact email" type="email" required value=${f.email} onInput=${(v) => setF({ ...f, email: v })} />
      </div>
      <${ErrorBox} error=${created.error} />
      <${Notice}>${created.result?.message}</${Notice}>
      <${Button} kind="primary" busy=${created.busy} type="submit">Create</${Button}>
    </form>
    <div class="filters">
      <${Select} label="Status" value=${status} onChange=${(v) => { setStatus(v); setPage(1); }}
        options=${[{ value: "", label: "Any" }, ...["active", "inactive", "suspended", "deleted"].map((s) => ({ value: s, label: s }))]} />
      <${Input} label="Search" type="search" value=${search} onInput=${(v) => { setSearch(v); setPage(1); }} />
    </div>
    <${ErrorBox} error=${list.error || acted.error} />
    <${Notice}>${acted.result}</${Notice}>
    ${list.loading && !list.data ? html`<${Loading} />` : null}
    ${list.data && !rows.length ? html`<${Empty}>No companies match.</${Empty}>` : null}
    ${rows.length ? html`<div class="table-wrap"><table><caption class="visually-hidden">Companies</caption>
      <thead><tr><th scope="col">Name</th><th scope="col">Email</th><th scope="col">Status</th><th scope="col">Created</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${rows.map((c) => html`<tr key=${c.id}><td class="title"><bdi>${c.name}</bdi></td><td><bdi>${c.email}</bdi></td>
        <td><${Status} value=${c.deleted_at ? "deleted" : c.status} /></td><td>${when(c.created_at)}</td>
        <td class="row-actions">${c.deleted_at ? html`<button onClick=${() => act(c, "restore")}>Restore</button>`
          : html`${c.status === "suspended" ? html`<button onClick=${() => act(c, "reactivate")}>Reactivate</button>` : html`<button onClick=${() => act(c, "suspend")}>Suspend</button>`}
            <button onClick=${() => act(c, "delete")}>Delete</button>`}
          <button class="danger" onClick=${() => act(c, "purge")}>Delete permanently</button></td></tr>`)}</tbody></table></div>` : null}
    <${Pager} pagination=${list.data?.pagination} onPage=${setPage} />
  </${Page}>`;
}

const ROLES = ["user", "admin", "super_admin"];
const USER_STATUSES = ["active", "inactive", "suspended", "pending_verification"];

export function Users({ session }) {
  const me = getSession()?.user || session?.user || {};
  const superAdmin = me.role === "super_admin";
  const [page, setPage] = useState(1);
  const [role, setRole] = useState("");
  const [status, setStatus] = useState("");
  const [search, setSearch] = useState("");
  const [companyId, setCompanyId] = useState("");
  const companies = useLoad(() => (superAdmin ? api.get("/super-admin/company", { per_page: 100 }) : null), [superAdmin]);
  // A super admin picks the company whose users to manage; everyone else sees their own.
  const list = useLoad(() => api.get(companyId ? `/super-admin/company/${companyId}/user` : "/admin/user",
    { page, per_page: 25, role, status, search }), [page, role, status, search, companyId]);
  const users = list.data?.users || [];
  const [nu, setNu] = useState({ email: "", first_name: "", last_name: "", password: "", role: "user" });
  const [create, created] = useAction(async () => { const r = await api.post("/auth/user", companyId ? { ...nu, company_id: companyId } : nu); setNu({ email: "", first_name: "", last_name: "", password: "", role: "user" }); list.reload(); return r; });
  const [act, acted] = useAction(async (u, what, value) => {
    if (what === "role") await api.patch(`/user/${u.id}/role`, { role: value });
    if (what === "status") await api.patch(`/user/${u.id}/status`, { status: value });
    if (what === "reset") await api.post(`/user/${u.id}/force-password-reset`);
    if (what === "export") { downloadJson(`user-${u.id}.json`, await api.get(`/exports/users/${u.id}`)); return `Exported the data of ${u.email}.`; }
    if (what === "erase") {
      if (!confirm(`Erase ${u.email} for good? Their profile, keys and chats are deleted; the audit trail is anonymised.`)) return null;
      const r = await api.post(`/erasure/users/${u.id}`);
      list.reload();
      return `Erased ${u.email} (certificate ${r.certificate?.certificate_id || r.certificate_id || "recorded"}).`;
    }
    if (what === "impersonate") {
      const r = await api.post(`/user/${u.id}/impersonate`);
      impersonate(r, r.user);
      navigate("/app");
      return null;
    }
    list.reload();
    return `Updated ${u.email}.`;
  });
  return html`<${Page} title="Users">
    <form class="panel" onSubmit=${(e) => { e.preventDefault(); create(); }}>
      <h2>Add a user</h2>
      <div class="row">
        <${Input} label="Email" type="email" required value=${nu.email} onInput=${(v) => setNu({ ...nu, email: v })} />
        <${Select} label="Role" value=${nu.role} onChange=${(v) => setNu({ ...nu, role: v })} options=${ROLES.slice(0, 2).map((r) => ({ value: r, label: r }))} />
      </div>
      <div class="row">
        <${Input} label="First name" required value=${nu.first_name} onInput=${(v) => setNu({ ...nu, first_name: v })} />
        <${Input} label="Last name" required value=${nu.last_name} onInput=${(v) => setNu({ ...nu, last_name: v })} />
      </div>
      <${Input} label="Initial password" type="password" autocomplete="new-password" required value=${nu.password} onInput=${(v) => setNu({ ...nu, password: v })} />
      <${ErrorBox} error=${created.error} />
      <${Notice}>${created.result?.message}</${Notice}>
      <${Button} kind="primary" busy=${created.busy} type="submit">Add user</${Button}>
    </form>
    <div class="filters">
      ${superAdmin ? html`<${Select} label="Company" value=${companyId} onChange=${(v) => { setCompanyId(v); setPage(1); }}
        options=${[{ value: "", label: "My company" }, ...(companies.data?.companies || []).map((c) => ({ value: c.id, label: c.name }))]} />` : null}
      <${Select} label="Role" value=${role} onChange=${setRole} options=${[{ value: "", label: "Any" }, ...ROLES.map((r) => ({ value: r, label: r }))]} />
      <${Select} label="Status" value=${status} onChange=${setStatus} options=${[{ value: "", label: "Any" }, ...USER_STATUSES.map((r) => ({ value: r, label: r }))]} />
      <${Input} label="Search" type="search" value=${search} onInput=${setSearch} />
    </div>
    <${ErrorBox} error=${list.error || acted.error} />
    <${Notice}>${acted.result}</${Notice}>
    ${list.loading && !list.data ? html`<${Loading} />` : null}
    ${users.length ? html`<div class="table-wrap"><table><caption class="visually-hidden">Users</caption>
      <thead><tr><th scope="col">Name</th><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Status</th><th scope="col">Last sign-in</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${users.map((u) => html`<tr key=${u.id}>
        <td class="title"><bdi>${[u.first_name, u.last_name].join(" ")}</bdi></td><td><bdi>${u.email}</bdi></td>
        <td>${superAdmin && u.id !== me.id ? html`<select aria-label=${"Role of " + u.email} value=${u.role} onChange=${(e) => act(u, "role", e.currentTarget.value)}>
          ${ROLES.map((r) => html`<option value=${r}>${r}</option>`)}</select>` : u.role}</td>
        <td>${u.id !== me.id ? html`<select aria-label=${"Status of " + u.email} value=${u.status} onChange=${(e) => act(u, "status", e.currentTarget.value)}>
          ${USER_STATUSES.map((r) => html`<option value=${r}>${r}</option>`)}</select>` : html`<${Status} value=${u.status} />`}</td>
        <td>${when(u.last_login)}</td>
        <td class="row-actions">${u.id !== me.id ? html`<button onClick=${() => act(u, "reset")}>Force password reset</button>
          <button onClick=${() => act(u, "export")}>Export data</button>
          <button class="danger" onClick=${() => act(u, "erase")}>Erase</button>
          ${superAdmin ? html`<button onClick=${() => act(u, "impersonate")}>Act as</button>` : null}` : null}</td>
      </tr>`)}</tbody></table></div>` : null}
    <${Pager} pagination=${list.data?.pagination} onPage=${setPage} />
  </${Page}>`;
}

const ADAPTERS = [["openai_compatible", "OpenAI-compatible server (vLLM, Ollama, LM Studio…)"], ["openai", "OpenAI"],
  ["anthropic", "Anthropic"], ["gemini", "Google Gemini"]];

export function Catalog() {
  const { data, error, reload } = useLoad(() => api.get("/settings/providers"), []);
  const providers = [...(data?.llm_providers || []), ...(data?.embedding_providers || [])];
  const seen = new Set();
  const unique = providers.filter((p) => !seen.has(p.id) && seen.add(p.id));
  const [f, setF] = useState({ name: "", type: "llm", adapter: "openai_compatible", api_base_url: "" });
  const [add, added] = useAction(async () => {
    const r = await api.post("/providers", { ...f, api_base_url: f.api_base_url || undefined });
    setF({ ...f, name: "", api_base_url: "" });
    reload();
    return r;
  });
  return html`<${Page} title="Providers and models">
    <form class="panel" onSubmit=${(e) => { e.preventDefault(); add(); }}>
      <h2>Add a provider</h2>
      <div class="row">
        <${Input} label="Provider name" required value=${f.name} onInput=${(v) => setF({ ...f, name: v })} />
        <${Select} label="Serves" value=${f.type} onChange=${(v) => setF({ ...f, type: v })}
          options=${[{ value: "llm", label: "Chat models" }, { value: "embedding", label: "Embedding models" }, { value: "both", label: "Both" }]} />
      </div>
      <div class="row">
        <${Select} label="Protocol" value=${f.adapter} onChange=${(v) => setF({ ...f, adapter: v })} options=${ADAPTERS.map(([value, label]) => ({ value, label }))} />
        <${Input} label="Base URL" type="url" value=${f.api_base_url} onInput=${(v) => setF({ ...f, api_base_url: v })} placeholder="http://gpu-box:8000/v1" />
      </div>
      <${ErrorBox} error=${added.error} />
      <${Notice}>${added.result ? "Provider added." : ""}</${Notice}>
      <${Button} kind="primary" busy=${added.busy} type="submit">Add provider</${Button}>
    </form>
    <${ErrorBox} error=${error} />
    ${!data && !error ? html`<${Loading} />` : null}
    <ul class="cards wide">${unique.map((p) => html`<li class="card" key=${p.id}>
      <h2><bdi>${p.label}</bdi> <span class="muted small">${p.provider_type}${p.is_custom ? " · custom" : ""}</span></h2>
      <p class="muted small"><bdi>${p.description || ""}</bdi></p>
      <p class="small">${p.requires_api_key ? "Needs an API key" : "No key needed"}${p.default_base_url ? html` · <bdi>${p.default_base_url}</bdi>` : null}</p>
      ${(p.models || []).length ? html`<div class="table-wrap"><table><caption class="visually-hidden">Models of ${p.label}</caption>
        <thead><tr><th scope="col">Model</th><th scope="col">Type</th><th scope="col">Context / dimension</th><th scope="col">Price (in / out per 1M)</th></tr></thead>
        <tbody>${p.models.map((m) => html`<tr key=${m.id}><td><bdi>${m.display_name || m.name}</bdi>${m.is_deprecated ? " (deprecated)" : ""}</td><td>${m.model_type}</td>
          <td>${m.context_window || m.embedding_dimension || "—"}</td><td>${m.pricing?.input ?? "—"} / ${m.pricing?.output ?? "—"}</td></tr>`)}</tbody></table></div>` : html`<p class="empty">No models listed yet.</p>`}
      ${p.is_custom ? html`<${CustomProviderTools} provider=${p} onChange=${reload} />` : null}
    </li>`)}</ul>
  </${Page}>`;
}

function CustomProviderTools({ provider, onChange }) {
  const [m, setM] = useState({ name: "", type: provider.provider_type === "embedding" ? "embedding" : "llm", context_window: "", embedding_dimension: "", input_price: "", output_price: "" });
  const num = (v) => (v === "" ? undefined : Number(v));
  const [add, added] = useAction(async () => {
    const r = await api.post(`/providers/${provider.id}/models`, { name: m.name, type: m.type, context_window: num(m.context_window),
      embedding_dimension: num(m.embedding_dimension), input_price: num(m.input_price), output_price: num(m.output_price) });
    setM({ ...m, name: "" });
    onChange();
    return r;
  });
  const [remove, removed] = useAction(async () => {
    if (!confirm(`Delete the provider "${provider.label}"? Its models stop being offered.`)) return null;
    await api.del(`/providers/${provider.id}`);
    onChange();
    return true;
  });
  return html`<form class="subform" onSubmit=${(e) => { e.preventDefault(); add(); }}>
    <h3>Add a model to <bdi>${provider.label}</bdi></h3>
    <div class="row">
      <${Input} label="Model name" required value=${m.name} onInput=${(v) => setM({ ...m, name: v })} />
      <${Select} label="Model type" value=${m.type} onChange=${(v) => setM({ ...m, type: v })} options=${[{ value: "llm", label: "Chat" }, { value: "embedding", label: "Embedding" }]} />
      ${m.type === "llm" ? html`<${Input} label="Context window" type="number" min="1" value=${m.context_window} onInput=${(v) => setM({ ...m, context_window: v })} />`
        : html`<${Input} label="Dimension" type="number" min="1" value=${m.embedding_dimension} onInput=${(v) => setM({ ...m, embedding_dimension: v })} />`}
      <${Input} label="Input price per 1M tokens" type="number" min="0" step="any" value=${m.input_price} onInput=${(v) => setM({ ...m, input_price: v })} />
      <${Input} label="Output price per 1M tokens" type="number" min="0" step="any" value=${m.output_price} onInput=${(v) => setM({ ...m, output_price: v })} />
    </div>
    <${ErrorBox} error=${added.error || removed.error} />
    <div class="actions">
      <${Button} busy=${added.busy} type="submit">Add model</${Button}>
      <${Button} kind="danger" type="button" busy=${removed.busy} onClick=${remove}>Delete provider</${Button}>
    </div>
  </form>`;
}

export function System() {
  const health = useLoad(() => fetch("/api/v1/health").then((r) => r.json()), []);
  const metrics = useLoad(() => api.get("/admin/system-metric"), []);
  const [collect, collected] = useAction(() => api.post("/system-metric"));
  const m = metrics.data?.metrics || {};
  const series = Object.entries(m).slice(0, 6);
  return html`<${Page} title="System" actions=${html`<${Button} busy=${collected.busy} onClick=${collect}>Collect metrics now</${Button}>`}>
    <${ErrorBox} error=${health.error || metrics.error || collected.error} />
    <${Notice}>${collected.result ? "Metrics collected." : ""}</${Notice}>
    ${health.data ? html`<section class="panel"><h2>Health: <${Status} value=${health.data.status} /></h2>
      <ul>${Object.entries(health.data.checks || {}).map(([k, v]) => html`<li key=${k}>${k}: <${Status} value=${v.status} />
        ${v.latency_ms != null ? html` <span class="muted small">${v.latency_ms} ms</span>` : null}${v.workers != null ? html` <span class="muted small">${v.workers} workers</span>` : null}</li>`)}</ul>
    </section>` : null}
    <div class="charts">${series.map(([name, points]) => html`<${BarChart} key=${name} title=${name.replace(/_/g, " ") + " (last 24 h)"}
      rows=${(points || []).map((p) => ({ hour: String(p.timestamp).slice(0, 16).replace("T", " "), value: p.value }))} x="hour" ys=${[{ key: "value", label: name }]} />`)}</div>
  </${Page}>`;
}

export function Audit() {
  const [risk, setRisk] = useState("");
  const [event, setEvent] = useState("");
  const [page, setPage] = useState(1);
  const { data, error, loading } = useLoad(() => api.get("/audit-log", { risk_level: risk, event_type: event, page, per_page: 50 }), [risk, event, page]);
  const logs = data?.logs || [];
  return html`<${Page} title="Audit log">
    <div class="filters">
      <${Select} label="Risk" value=${risk} onChange=${setRisk} options=${[{ value: "", label: "Any" }, ...["low", "medium", "high", "critical"].map((r) => ({ value: r, label: r }))]} />
      <${Input} label="Event type" value=${event} onInput=${setEvent} placeholder="e.g. auth.login" />
    </div>
    <${ErrorBox} error=${error} />
    ${loading && !data ? html`<${Loading} />` : null}
    ${data && !logs.length ? html`<${Empty}>No audit events match.</${Empty}>` : null}
    ${logs.length ? html`<div class="table-wrap"><table><caption class="visually-hidden">Audit events</caption>
      <thead><tr><th scope="col">When</th><th scope="col">Event</th><th scope="col">Description</th><th scope="col">Risk</th><th scope="col">Actor</th><th scope="col">IP</th></tr></thead>
      <tbody>${logs.map((l) => html`<tr key=${l.id}><td>${when(l.timestamp)}</td><td><code>${l.event_type}</code></td><td><bdi>${l.description}</bdi>${l.impersonator_id ? html` <span class="badge">impersonated</span>` : null}</td>
        <td><${Status} value=${l.risk_level} /></td><td>${l.user_role || ""}</td><td>${l.ip_address || ""}</td></tr>`)}</tbody></table></div>` : null}
    <${Pager} pagination=${data?.pagination} onPage=${setPage} />
  </${Page}>`;
}
