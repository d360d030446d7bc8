// Documents: drag-and-drop upload with per-file progress and errors, the list with status and
// processing time, and a chunk viewer.
import { api, upload, ApiError } from "../api.js";
import { html, useState, useRef, Page, Loading, Empty, ErrorBox, Button, Status, Progress, Pager, useLoad, usePoll,
  when, bytes, seconds, Dialog, errorText, Select, Input } from "../ui.js";
import { AgentPicker } from "./common.js";

const PENDING = new Set(["pending", "processing", "queued"]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Uploads one file per request (per-file progress and errors); a 429 waits and retries.
async function sendFile(agentId, item, patch) {
  for (let attempt = 0; attempt < 5; attempt++) {
    const form = new FormData();
    form.append("agent_id", agentId);
    form.append("files", item.file, item.file.name);
    try {
      const body = await upload("/document/upload", form, (p) => patch({ progress: p, state: "uploading" }));
      const failed = (body.results || []).find((r) => r.outcome === "failed");
      if (failed) return patch({ state: "failed", error: failed.error, progress: 1 });
      const doc = (body.documents || [])[0];
      return patch({ state: doc?.duplicate ? "duplicate" : "uploaded", documentId: doc?.id, progress: 1 });
    } catch (err) {
      if (err instanceof ApiError && err.status === 429 && attempt < 4) {
        const wait = Number(/(\d+) s/.exec(err.message)?.[1] || 10);
        patch({ state: "waiting", error: `Rate limited; retrying in ${wait} s` });
        await sleep(wait * 1000);
        continue;
      }
      return patch({ state: "failed", error: errorText(err) });
    }
  }
  return undefined;
}

export function Documents() {
  const [agentId, setAgentId] = useState("");
  const [items, setItems] = useState([]);
  const [over, setOver] = useState(false);
  const [page, setPage] = useState(1);
  const [status, setStatus] = useState("");
  const [search, setSearch] = useState("");
  const [chunksOf, setChunksOf] = useState(null);
  const input = useRef(null);
  const list = useLoad(() => api.get("/document", { page, per_page: 20, agent_id: agentId, status, search }), [page, agentId, status, search]);
  const docs = list.data?.documents || [];
  const processing = docs.some((d) => PENDING.has(d.status)) || items.some((i) => i.state === "uploading" || i.state === "waiting");
  usePoll(list.reload, 1500, processing);

  const add = async (files) => {
    if (!agentId) { setItems([{ key: "x", name: "", state: "failed", error: "Choose an agent first: documents belong to an agent." }]); return; }
    const fresh = [...files].map((file, n) => ({ key: `${Date.now()}-${n}-${file.name}`, name: file.name, size: file.size, file, progress: 0, state: "queued" }));
    setItems((xs) => [...fresh, ...xs.filter((x) => x.key !== "x")]);
    const queue = [...fresh];
    const worker = async () => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        const key = item.key;
        await sendFile(agentId, item, (p) => setItems((xs) => xs.map((x) => (x.key === key ? { ...x, ...p } : x))));
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    list.reload();
  };
  const byId = Object.fromEntries(docs.map((d) => [d.id, d]));
  const drop = (e) => { e.preventDefault(); setOver(false); add(e.dataTransfer.files); };

  return html`<${Page} title="Documents">
    <div class="filters">
      <${AgentPicker} value=${agentId} onChange=${(v) => { setAgentId(v); setPage(1); }} label="Agent" />
      <${Select} label="Status" value=${status} onChange=${(v) => { setStatus(v); setPage(1); }}
        options=${[{ value: "", label: "Any" }, ...["pending", "processing", "processed", "failed"].map((s) => ({ value: s, label: s }))]} />
      <${Input} label="Search" type="search" value=${search} onInput=${(v) => { setSearch(v); setPage(1); }} />
    </div>
    <div class=${"dropzone" + (over ? " over" : "")} onDragOver=${(e) => { e.preventDefault(); setOver(true); }}
      onDragLeave=${() => setOver(false)} onDrop=${drop}>
      <p>Drop files here (PDF, Word, Excel, PowerPoint, text, Markdown, HTML, CSV, JSON, images)</p>
      <input ref=${input} id="file-input" type="file" multiple class="visually-hidden" onChange=${(e) => { add(e.currentTarget.files); e.currentTarget.value = ""; }} />
      <label for="file-input" class="button">Choose files…</label>
    </div>
    ${items.length ? html`<ul class="uploads" aria-label="Uploads" aria-live="polite">
      ${items.map((i) => {
        const doc = i.documentId && byId[i.documentId];
        const state = doc ? doc.status : i.state;
        return html`<li key=${i.key} data-state=${state}>
          <span class="name"><bdi>${i.name}</bdi></span> <span class="muted small">${i.size != null ? bytes(i.size) : ""}</span>
          ${i.state === "uploading" || i.state === "queued" ? html`<${Progress} value=${i.progress} label=${"Uploading " + i.name} />` : null}
          ${doc && PENDING.has(doc.status) ? html`<${Progress} value=${doc.progress || 0} label=${"Processing " + i.name} />` : null}
          <${Status} value=${state} />
          ${i.error ? html`<span class="error" role="alert">${i.error}</span>` : null}
          ${doc?.processing_error ? html`<span class="error" role="alert">${doc.processing_error}</span>` : null}
        </li>`;
      })}
    </ul>` : null}
    <${ErrorBox} error=${list.error} />
    ${list.loading && !list.data ? html`<${Loading} />` : null}
    ${list.data && !docs.length ? html`<${Empty}>No documents${agentId ? " for this agent" : ""} yet.</${Empty}>` : null}
    ${docs.length ? html`<div class="table-wrap"><table>
      <caption class="visually-hidden">Documents</caption>
      <thead><tr><th scope="col">Title</th><th scope="col">Type</th><th scope="col">Size</th><th scope="col">Status</th>
        <th scope="col">Chunks</th><th scope="col">Processing time</th><th scope="col">Uploaded</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody>${docs.map((d) => html`<tr key=${d.id} data-id=${d.id}>
        <td class="title"><bdi>${d.title || d.original_filename}</bdi>${d.processing_error ? html`<div class="error small">${d.processing_error}</div>` : null}</td>
        <td>${d.document_type}</td><td>${bytes(d.file_size)}</td>
        <td><${Status} value=${d.status} />${PENDING.has(d.status) ? html` <${Progress} value=${d.progress || 0} label=${"Processing " + (d.title || "")} />` : null}</td>
        <td>${d.chunk_count ?? "—"}</td><td>${seconds(d.processing_started_at || d.created_at, d.processed_at)}</td><td>${when(d.created_at)}</td>
        <td class="row-actions"><button onClick=${() => setChunksOf(d)} disabled=${d.status !== "processed"}>Chunks</button>
          <${DeleteDoc} doc=${d} onDone=${list.reload} /></td>
      </tr>`)}</tbody>
    </table></div>` : null}
    <${Pager} pagination=${list.data?.pagination} onPage=${setPage} />
    ${chunksOf ? html`<${Chunks} doc=${chunksOf} onClose=${() => setChunksOf(null)} />` : null}
  </${Page}>`;
}

function DeleteDoc({ doc, onDone }) {
  const [error, setError] = useState(null);
  const go = async () => {
    if (!confirm(`Delete "${doc.title || doc.original_filename}"?`)) return;
    try { await api.del("/document/" + doc.id); onDone(); } catch (err) { setError(err); }
  };
  return html`<button class="danger" onClick=${go}>Delete</button>${error ? html`<span class="error" role="alert">${errorText(error)}</span>` : null}`;
}

function Chunks({ doc, onClose }) {
  const [page, setPage] = useState(1);
  const { data, error } = useLoad(() => api.get(`/document/${doc.id}/chunk`, { page, per_page: 20 }), [doc.id, page]);
  return html`<${Dialog} title=${"Chunks of " + (doc.title || doc.original_filename)} onClose=${onClose}>
    <${ErrorBox} error=${error} />
    ${!data && !error ? html`<${Loading} />` : null}
    ${data ? html`<ol class="chunks">${data.chunks.map((c) => html`<li key=${c.id}>
      <p class="muted small">#${c.chunk_index + 1}${c.page_number ? ` · page ${c.page_number}` : ""}${c.heading_path ? ` · ${c.heading_path}` : ""} · ${c.token_count ?? "?"} tokens</p>
      <p class="chunk-text"><bdi>${c.content}</bdi></p></li>`)}</ol>
      <${Pager} pagination=${data.pagination} onPage=${setPage} />` : null}
  </${Dialog}>`;
}
