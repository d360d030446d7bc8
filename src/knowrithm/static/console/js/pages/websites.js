// Website sources: register a site, crawl it with progress, list its pages.
import { api, waitTask } from "../api.js";
import { html, useState, Page, Loading, Empty, ErrorBox, Notice, Input, Button, Status, useLoad, useAction, usePoll, when, Progress } from "../ui.js";
import { AgentPicker, DataTable } from "./common.js";

const BUSY = new Set(["queued", "crawling", "pending", "in_progress", "running"]);

export function Websites() {
  const [agentId, setAgentId] = useState("");
  const [url, setUrl] = useState("");
  const [maxPages, setMaxPages] = useState("50");
  const [open, setOpen] = useState(null);
  const [crawls, setCrawls] = useState({});
  const list = useLoad(() => api.get("/website/source", { agent_id: agentId, per_page: 100 }), [agentId]);
  const sources = list.data?.website_sources || list.data?.sources || [];
  const busy = sources.some((s) => BUSY.has(s.last_crawl_status)) || Object.values(crawls).some((c) => c.running);
  usePoll(list.reload, 2000, busy);
  const [add, added] = useAction(async () => {
    if (!agentId) throw new Error("Choose the agent this website teaches.");
    const r = await api.post("/website/source", { agent_id: agentId, base_url: url, max_pages: Number(maxPages) || 50 });
    setUrl("");
    list.reload();
    return r;
  });
  const crawl = async (s) => {
    setCrawls((c) => ({ ...c, [s.id]: { running: true, progress: 0 } }));
    try {
      const ack = await api.post(`/website/source/${s.id}/crawl`, {}, { follow: false });
      const result = await waitTask(ack.status_url, undefined, (st) => setCrawls((c) => ({ ...c, [s.id]: { running: true, progress: st.progress } })));
      setCrawls((c) => ({ ...c, [s.id]: { running: false, result } }));
    } catch (error) {
      setCrawls((c) => ({ ...c, [s.id]: { running: false, error } }));
    }
    list.reload();
  };
  return html`<${Page} title="Websites">
    <form class="panel" onSubmit=${(e) => { e.preventDefault(); add(); }}>
      <h2>Add a website</h2>
      <${AgentPicker} value=${agentId} onChange=${setAgentId} />
      <div class="row">
        <${Input} label="Site address" type="url" required placeholder="https://example.com" value=${url} onInput=${setUrl} />
        <${Input} label="Page limit" type="number" min="1" max="5000" value=${maxPages} onInput=${setMaxPages} />
      </div>
      <${ErrorBox} error=${added.error} />
      <${Notice}>${added.result?.message}</${Notice}>
      <${Button} kind="primary" busy=${added.busy} type="submit">Add and crawl</${Button}>
    </form>
    <${ErrorBox} error=${list.error} />
    ${list.loading && !list.data ? html`<${Loading} />` : null}
    ${list.data && !sources.length ? html`<${Empty}>No website sources yet.</${Empty}>` : null}
    <ul class="cards">${sources.map((s) => {
      const c = crawls[s.id] || {};
      return html`<li class="card" key=${s.id}>
        <h2><bdi>${s.domain || s.base_url}</bdi></h2>
        <p class="muted small"><bdi>${s.base_url}</bdi></p>
        <p><${Status} value=${c.running ? "crawling" : s.last_crawl_status || "new"} /> <span class="muted small">last crawl ${when(s.last_crawl_completed_at)}</span></p>
        ${c.running || BUSY.has(s.last_crawl_status) ? html`<${Progress} value=${c.progress || 0} label=${"Crawling " + (s.domain || "")} />` : null}
        ${s.last_error ? html`<p class="error small">${s.last_error}</p>` : null}
        ${c.error ? html`<p class="error" role="alert">${c.error.message}</p>` : null}
        ${c.result ? html`<p class="notice" role="status">${c.result.message || "Crawl finished."}</p>` : null}
        <div class="actions">
          <button onClick=${() => crawl(s)} disabled=${c.running}>Crawl now</button>
          <button onClick=${() => setOpen(open === s.id ? null : s.id)} aria-expanded=${open === s.id}>Pages</button>
          <${DeleteSource} source=${s} onDone=${list.reload} />
        </div>
        ${open === s.id ? html`<${Pages} sourceId=${s.id} />` : null}
      </li>`;
    })}</ul>
  </${Page}>`;
}

function DeleteSource({ source, onDone }) {
  const [run, { error }] = useAction(async () => {
    if (!confirm(`Delete ${source.base_url} and what was learnt from it?`)) return;
    await api.del("/sdk/website/source/" + source.id);
    onDone();
  });
  return html`<button class="danger" onClick=${run}>Delete</button>${error ? html`<span class="error" role="alert">${error.message}</span>` : null}`;
}

function Pages({ sourceId }) {
  const { data, error } = useLoad(() => api.get(`/website/source/${sourceId}/pages`, { per_page: 200 }), [sourceId]);
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!data) return html`<${Loading} />`;
  const pages = (data.pages || data.website_pages || []).map((p) => ({ title: p.title, url: p.url, status: p.last_crawl_status, http: p.last_http_status, crawled: when(p.last_crawled_at) }));
  return html`<${DataTable} rows=${pages} caption="Pages" />`;
}
