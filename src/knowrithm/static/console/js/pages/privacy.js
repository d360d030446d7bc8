// Data and privacy: the company's export (a zip behind a signed, expiring link, with progress),
// the retention policy, and for the super admin the audit-log floor. Subject-access exports and
// erasure of one lead or user are on the leads board and the users page (downloadJson, below).
import { api, waitTask, getSession } from "../api.js";
import { html, useState, useEffect, Page, Loading, ErrorBox, Notice, Input, Button, Progress, useLoad, useAction, when } from "../ui.js";

const CLASSES = [["conversations", "Conversations and messages"], ["leads", "Idle leads (with their chats)"],
  ["request_logs", "API request logs"], ["analytics_events", "Analytics events"], ["audit_log", "Audit log"],
  ["uploaded_files", "Original uploaded files"], ["task_records", "Background task records"]];

export function downloadJson(name, data) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

export function Privacy() {
  const me = getSession()?.user || {};
  return html`<${Page} title="Data and privacy">
    <${CompanyExport} />
    <${Retention} companyId=${me.company_id} />
    ${me.role === "super_admin" ? html`<${Floor} />` : null}
  </${Page}>`;
}

function CompanyExport() {
  const [progress, setProgress] = useState(null);
  const [run, { busy, error, result }] = useAction(async () => {
    setProgress(0);
    const ack = await api.post("/exports/company", {}, { follow: false });
    const r = await waitTask(ack.status_url, undefined, (st) => setProgress((st.progress || 0) / 100));
    setProgress(null);
    return r;
  });
  return html`<section class="panel" aria-labelledby="export-title">
    <h2 id="export-title">Export all company data</h2>
    <p class="muted">One zip: every table as JSON (secrets left out) and the original files.</p>
    <${Button} busy=${busy} onClick=${run}>Prepare export</${Button}>
    ${busy && progress != null ? html` <${Progress} value=${progress} label="Preparing the export" />` : null}
    <${ErrorBox} error=${error} />
    ${result ? html`<p class="notice" role="status">Ready: <a href=${result.download_url} download>download the zip</a>
      (${Math.round((result.size || 0) / 1024)} KB, link valid until ${when(result.expires_at)}).</p>` : null}
  </section>`;
}

function Retention({ companyId }) {
  const { data, error, reload } = useLoad(() => api.get(`/company/${companyId}/retention`), [companyId]);
  const [days, setDays] = useState({});
  useEffect(() => {
    if (data) setDays(Object.fromEntries(CLASSES.map(([k]) => [k, data.policy?.[k] ?? data.effective?.[k] ?? ""])));
  }, [data]);
  const [save, saved] = useAction(async () => {
    const body = Object.fromEntries(CLASSES.map(([k]) => [k, days[k] === "" || days[k] == null ? null : Number(days[k])]));
    const r = await api.put(`/company/${companyId}/retention`, body);
    reload();
    return r;
  });
  return html`<section class="panel" aria-labelledby="retention-title">
    <h2 id="retention-title">Retention</h2>
    <${ErrorBox} error=${error} />
    ${!data && !error ? html`<${Loading} />` : null}
    ${data ? html`<form onSubmit=${(e) => { e.preventDefault(); save(); }}>
      <p class="muted small">Days to keep each kind of data; leave empty to keep it forever. The audit log is kept at least
        ${data.audit_log_floor_days} days.</p>
      <div class="row">${CLASSES.map(([k, label]) => html`<${Input} key=${k} label=${label} type="number" min="1"
        value=${days[k] ?? ""} onInput=${(v) => setDays({ ...days, [k]: v })} hint=${`default: ${data.defaults?.[k] ?? "forever"}`} />`)}</div>
      <${ErrorBox} error=${saved.error} />
      <${Notice}>${saved.result ? "Retention saved." : ""}</${Notice}>
      <${Button} kind="primary" busy=${saved.busy} type="submit">Save retention</${Button}>
    </form>` : null}
    ${data?.runs?.length ? html`<p class="muted small">Last run: ${when(data.runs[0].finished_at || data.runs[0].started_at || data.runs[0].created_at)}</p>` : null}
  </section>`;
}

function Floor() {
  const { data, error, reload } = useLoad(() => api.get("/super-admin/retention-floor"), []);
  const [v, setV] = useState("");
  useEffect(() => { if (data) setV(String(data.audit_log_floor_days)); }, [data]);
  const [save, saved] = useAction(async () => { const r = await api.put("/super-admin/retention-floor", { audit_log_floor_days: Number(v) }); reload(); return r; });
  return html`<section class="panel" aria-labelledby="floor-title">
    <h2 id="floor-title">Platform audit-log floor</h2>
    <${ErrorBox} error=${error || saved.error} />
    <form onSubmit=${(e) => { e.preventDefault(); save(); }}>
      <${Input} label="Minimum days every company keeps its audit log" type="number" min="1" value=${v} onInput=${setV} />
      <${Notice}>${saved.result ? "Floor saved." : ""}</${Notice}>
      <${Button} busy=${saved.busy} type="submit">Save floor</${Button}>
    </form>
  </section>`;
}
