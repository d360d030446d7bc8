// Pickers and helpers several pages share.
import { api } from "../api.js";
import { html, useLoad, Select } from "../ui.js";

// An agent picker filled from the company's agents; `any` adds an "All agents" choice.
export function AgentPicker({ value, onChange, any = false, label = "Agent" }) {
  const { data, error } = useLoad(() => api.get("/agent", { per_page: 100 }), []);
  const agents = data?.agents || [];
  const options = [...(any ? [{ value: "", label: "All agents" }] : [{ value: "", label: agents.length ? "Choose an agent" : "No agents yet" }]),
    ...agents.map((a) => ({ value: a.id, label: a.name }))];
  return html`<div>
    <${Select} label=${label} value=${value} onChange=${onChange} options=${options} />
    ${error ? html`<p class="error" role="alert">${error.message}</p>` : null}
  </div>`;
}

// Rows of objects as a table (columns from the first rows' keys); values shown as text.
export function DataTable({ rows, caption, columns }) {
  if (!rows || !rows.length) return html`<p class="empty">No rows.</p>`;
  const cols = columns || [...new Set(rows.slice(0, 20).flatMap((r) => Object.keys(r || {})))];
  const cell = (v) => (v == null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));
  return html`<div class="table-wrap"><table>
    <caption class="visually-hidden">${caption}</caption>
    <thead><tr>${cols.map((c) => html`<th scope="col" key=${c}>${c}</th>`)}</tr></thead>
    <tbody>${rows.map((r, i) => html`<tr key=${i}>${cols.map((c) => html`<td key=${c}><bdi>${cell(r?.[c])}</bdi></td>`)}</tr>`)}</tbody>
  </table></div>`;
}
