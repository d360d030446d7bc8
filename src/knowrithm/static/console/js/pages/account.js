// The signed-in user's profile and API keys (secret shown once, revoke).
import { api, getSession, setSession } from "../api.js";
import { html, useState, useEffect, Page, Loading, Empty, ErrorBox, Notice, Input, Button, Status, useLoad, useAction, when, CopyButton } from "../ui.js";

export function Profile() {
  const { data, error } = useLoad(() => api.get("/user/profile"), []);
  const [f, setF] = useState(null);
  useEffect(() => {
    const u = data?.user || data;
    if (u) setF({ first_name: u.first_name || "", last_name: u.last_name || "", timezone: u.timezone || "UTC", language: u.language || "en" });
  }, [data]);
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const [save, saved] = useAction(async () => {
    const r = await api.put("/user/profile", f);
    const s = getSession();
    if (s && r.user) setSession({ ...s, user: { ...s.user, ...r.user } });
    return r;
  });
  const u = data?.user || data;
  return html`<${Page} title="Profile">
    <${ErrorBox} error=${error} />
    ${!f && !error ? html`<${Loading} />` : null}
    ${f ? html`<form class="panel" onSubmit=${(e) => { e.preventDefault(); save(); }}>
      <p><bdi>${u.email}</bdi> · ${u.role} · <${Status} value=${u.email_verified ? "verified" : "unverified"} /></p>
      <div class="row">
        <${Input} label="First name" value=${f.first_name} onInput=${set("first_name")} autocomplete="given-name" />
        <${Input} label="Last name" value=${f.last_name} onInput=${set("last_name")} autocomplete="family-name" />
      </div>
      <div class="row">
        <${Input} label="Time zone" value=${f.timezone} onInput=${set("timezone")} />
        <${Input} label="Language" value=${f.language} onInput=${set("language")} />
      </div>
      <${ErrorBox} error=${saved.error} />
      <${Notice}>${saved.result ? "Profile saved." : ""}</${Notice}>
      <${Button} kind="primary" busy=${saved.busy} type="submit">Save</${Button}>
    </form>` : null}
  </${Page}>`;
}

const SCOPES = ["read", "write", "update", "delete", "admin", "full_access"];

export function ApiKeys() {
  const list = useLoad(() => api.get("/auth/api-keys"), []);
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState(["read", "write"]);
  const [days, setDays] = useState("");
  const [created, setCreated] = useState(null);
  const toggle = (s) => setScopes(scopes.includes(s) ? scopes.filter((x) => x !== s) : [...scopes, s]);
  const [create, creating] = useAction(async () => {
    if (!scopes.length) throw new Error("Choose at least one scope.");
    const body = { name, scopes };
    if (days) body.expires_in_days = Number(days);
    const r = await api.post("/auth/api-keys", body);
    setCreated(r);
    setName("");
    list.reload();
    return r;
  });
  const [revoke, revoking] = useAction(async (k) => {
    if (!confirm(`Revoke the key "${k.name}"? Programs using it stop working at once.`)) return;
    await api.del("/auth/api-keys/" + k.id);
    list.reload();
  });
  const keys = list.data?.api_keys || [];
  return html`<${Page} title="API keys">
    <form class="panel" onSubmit=${(e) => { e.preventDefault(); create(); }}>
      <h2>Create a key</h2>
      <${Input} label="Name" required value=${name} onInput=${setName} />
      <fieldset><legend>Scopes</legend><div class="checks">
        ${SCOPES.map((s) => html`<label key=${s}><input type="checkbox" checked=${scopes.includes(s)} onChange=${() => toggle(s)} /> ${s.replace("_", " ")}</label>`)}
      </div></fieldset>
      <${Input} label="Expires after (days, optional)" type="number" min="1" value=${days} onInput=${setDays} />
      <${ErrorBox} error=${creating.error} />
      <${Button} kind="primary" busy=${creating.busy} type="submit">Create key</${Button}>
    </form>
    ${created ? html`<div class="secret" role="status">
      <h2>Store this secret now</h2>
      <p>It is shown once. Send both values as <code>X-API-Key</code> and <code>X-API-Secret</code>.</p>
      <dl><dt>Key</dt><dd><code class="break">${created.api_key}</code> <${CopyButton} text=${created.api_key} label="Copy key" /></dd>
        <dt>Secret</dt><dd><code class="break" data-secret>${created.api_secret}</code> <${CopyButton} text=${created.api_secret} label="Copy secret" /></dd></dl>
      <button onClick=${() => setCreated(null)}>I stored it</button>
    </div>` : null}
    <${ErrorBox} error=${list.error || revoking.error} />
    ${list.loading && !list.data ? html`<${Loading} />` : null}
    ${list.data && !keys.length ? html`<${Empty}>No active API keys.</${Empty}>` : null}
    ${keys.length ? html`<div class="table-wrap"><table><caption class="visually-hidden">API keys</caption>
      <thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Scopes</th><th scope="col">Last used</th><th scope="col">Expires</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${keys.map((k) => html`<tr key=${k.id}><td><bdi>${k.name}</bdi></td><td><code>${k.key_prefix}</code></td>
        <td>${(k.scopes || []).join(", ")}</td><td>${when(k.last_used_at)}</td><td>${when(k.expires_at)}</td>
        <td><button class="danger" onClick=${() => revoke(k)}>Revoke</button></td></tr>`)}</tbody></table></div>` : null}
  </${Page}>`;
}
