// Leads pipeline: a board with one column per status; drag a card (or use its status menu)
// to move it. CSV export of the company's leads.
import { api, request } from "../api.js";
import { html, useState, Page, Loading, ErrorBox, Notice, Button, Input, Pager, useLoad, useAction, when } from "../ui.js";
import { downloadJson } from "./privacy.js";

const STATUSES = ["new", "contacted", "qualified", "converted", "lost"];
export const PAGE_SIZE = 100;

export function Leads() {
  const [search, setSearch] = useState("");
  const [page, setPage] = useState(1);  // the board holds 100 leads at a time (the API's page size limit)
  const { data, error, loading, reload } = useLoad(() => api.get("/lead/company", { per_page: PAGE_SIZE, page, search }), [search, page]);
  const [moved, setMoved] = useState({});
  const [moveError, setMoveError] = useState(null);
  const [drag, setDrag] = useState(null);
  const [over, setOver] = useState(null);
  const leads = (data?.leads || []).map((l) => ({ ...l, status: moved[l.id] || l.status }));
  const move = async (lead, status) => {
    if (lead.status === status) return;
    setMoved((m) => ({ ...m, [lead.id]: status }));
    setMoveError(null);
    try {
      await api.put("/sdk/lead/" + lead.id, { status });
    } catch (err) {
      setMoved((m) => { const n = { ...m }; delete n[lead.id]; return n; });
      setMoveError(err);
    }
  };
  const [subject, subjectDone] = useAction(async (lead, what) => {
    if (what === "export") {
      downloadJson(`lead-${lead.id}.json`, await api.get("/exports/leads/" + lead.id));
      return `Exported the data of ${lead.email}.`;
    }
    if (!confirm(`Erase ${lead.email} for good: the lead, their conversations and messages? This cannot be undone.`)) return null;
    const r = await api.post("/erasure/leads/" + lead.id);
    reload();
    return `Erased ${lead.email} (certificate ${r.certificate?.certificate_id || r.certificate_id || "recorded"}).`;
  });
  const [exportCsv, exported] = useAction(async () => {
    const resp = await request("POST", "/analytic/export", { body: { type: "leads", format: "csv" }, raw: true });
    const blob = await resp.blob();
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `leads-${new Date().toISOString().slice(0, 10)}.csv`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    return `Exported ${blob.size} bytes.`;
  });
  return html`<${Page} title="Leads" actions=${html`<${Button} busy=${exported.busy} onClick=${exportCsv}>Export CSV</${Button}>`}>
    <div class="filters"><${Input} label="Search" type="search" value=${search} onInput=${(v) => { setSearch(v); setPage(1); }} /></div>
    <${ErrorBox} error=${error || moveError || exported.error || subjectDone.error} />
    <${Notice}>${exported.result || subjectDone.result}</${Notice}>
    ${loading && !data ? html`<${Loading} />` : null}
    <div class="board" aria-label="Leads pipeline">
      ${STATUSES.map((st) => {
        const col = leads.filter((l) => l.status === st);
        return html`<section key=${st} class=${"column" + (over === st ? " over" : "")} aria-labelledby=${"col-" + st} data-status=${st}
          onDragOver=${(e) => { e.preventDefault(); setOver(st); }} onDragLeave=${() => setOver(null)}
          onDrop=${(e) => { e.preventDefault(); setOver(null); const l = leads.find((x) => x.id === drag); if (l) move(l, st); setDrag(null); }}>
          <h2 id=${"col-" + st}>${st} <span class="count">${col.length}</span></h2>
          <ul>${col.map((l) => html`<li key=${l.id} class="lead" draggable="true" data-id=${l.id}
            onDragStart=${(e) => { setDrag(l.id); e.dataTransfer.setData("text/plain", l.id); }}>
            <strong><bdi>${l.full_name || [l.first_name, l.last_name].join(" ")}</bdi></strong>
            <span class="small"><bdi>${l.email}</bdi></span>
            ${l.phone ? html`<span class="small muted"><bdi>${l.phone}</bdi></span>` : null}
            <span class="small muted">${l.source || ""} · ${when(l.created_at)}</span>
            <label class="small">Status
              <select value=${l.status} onChange=${(e) => move(l, e.currentTarget.value)}>
                ${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
              </select></label>
            <span class="lead-actions"><button class="ghost small" onClick=${() => subject(l, "export")}>Export data</button>
              <button class="ghost small danger" onClick=${() => subject(l, "erase")}>Erase</button></span>
          </li>`)}</ul>
        </section>`;
      })}
    </div>
    <${Pager} pagination=${data?.pagination} onPage=${setPage} />
    <button class="ghost" onClick=${reload}>Refresh</button>
  </${Page}>`;
}
