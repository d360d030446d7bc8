// Small SVG charts drawn with Preact elements (no chart library): each has a text summary for
// screen readers and a data table behind a disclosure.
import { html } from "../vendor/preact-htm.js";

const W = 600;
const H = 200;
const PAD = 28;

function DataDisclosure({ rows, x, ys }) {
  return html`<details class="chart-data"><summary>Show the data</summary><div class="table-wrap"><table>
    <thead><tr><th scope="col">${x}</th>${ys.map((y) => html`<th scope="col">${y.label}</th>`)}</tr></thead>
    <tbody>${rows.map((r, i) => html`<tr key=${i}><th scope="row"><bdi>${r[x]}</bdi></th>${ys.map((y) => html`<td>${r[y.key] ?? 0}</td>`)}</tr>`)}</tbody>
  </table></div></details>`;
}

// Columns per row for each series (grouped bars); `x` names the label key.
export function BarChart({ title, rows, x, ys }) {
  if (!rows?.length) return html`<figure class="chart"><figcaption>${title}</figcaption><p class="empty">No data in this period.</p></figure>`;
  const max = Math.max(1, ...rows.flatMap((r) => ys.map((y) => Number(r[y.key]) || 0)));
  const slot = (W - PAD * 2) / rows.length;
  const bar = Math.max(2, (slot * 0.8) / ys.length);
  const total = ys.map((y) => `${y.label}: ${rows.reduce((s, r) => s + (Number(r[y.key]) || 0), 0)}`).join(", ");
  const step = Math.ceil(rows.length / 8);
  return html`<figure class="chart">
    <figcaption>${title}</figcaption>
    <svg viewBox=${`0 0 ${W} ${H + 24}`} role="img" aria-label=${`${title}. Totals: ${total}.`} preserveAspectRatio="none">
      <line x1=${PAD} y1=${H} x2=${W - PAD} y2=${H} class="axis" />
      <text x="2" y="12" class="tick">${max}</text>
      ${rows.map((r, i) => ys.map((y, j) => {
        const v = Number(r[y.key]) || 0;
        const h = (v / max) * (H - 20);
        return html`<rect key=${i + "-" + j} x=${PAD + i * slot + slot * 0.1 + j * bar} y=${H - h} width=${bar} height=${h} class=${"series-" + j}><title>${r[x]}: ${y.label} ${v}</title></rect>`;
      }))}
      ${rows.map((r, i) => (i % step === 0 ? html`<text key=${"t" + i} x=${PAD + i * slot + slot / 2} y=${H + 16} class="tick" text-anchor="middle">${String(r[x]).slice(5)}</text>` : null))}
    </svg>
    ${ys.length > 1 ? html`<p class="legend">${ys.map((y, j) => html`<span key=${j}><i class=${"swatch series-" + j}></i>${y.label}</span>`)}</p>` : null}
    <${DataDisclosure} rows=${rows} x=${x} ys=${ys} />
  </figure>`;
}

// A horizontal funnel / ranking: one bar per row, widths relative to the largest.
export function HBars({ title, rows, label, value, format = (v) => v }) {
  if (!rows?.length) return html`<figure class="chart"><figcaption>${title}</figcaption><p class="empty">No data in this period.</p></figure>`;
  const max = Math.max(1, ...rows.map((r) => Number(r[value]) || 0));
  return html`<figure class="chart">
    <figcaption>${title}</figcaption>
    <ul class="hbars">${rows.map((r, i) => html`<li key=${i}>
      <span class="hbar-label"><bdi>${r[label]}</bdi></span>
      <span class="hbar-track"><span class="hbar" style=${{ width: `${((Number(r[value]) || 0) / max) * 100}%` }}></span></span>
      <span class="hbar-value">${format(r[value])}</span>
    </li>`)}</ul>
  </figure>`;
}

export function Kpi({ label, value, hint }) {
  return html`<div class="kpi"><span class="kpi-value">${value}</span><span class="kpi-label">${label}</span>${hint ? html`<small>${hint}</small>` : null}</div>`;
}
