// Analytics for a support lead: conversations over time, response times, top and unanswered
// questions, the leads funnel and token use, over a chosen date range.
import { api } from "../api.js";
import { html, useState, Page, Loading, ErrorBox, Select, Input, useLoad } from "../ui.js";
import { BarChart, HBars, Kpi } from "../charts.js";
import { AgentPicker } from "./common.js";

const day = (d) => d.toISOString().slice(0, 10);

function range(preset, from, to) {
  if (preset === "custom" && from && to) return { start: from, end: to };
  const end = new Date();
  const start = new Date(end.getTime() - Number(preset) * 86400_000);
  return { start: day(start), end: day(end) };
}

const pct = (v) => `${Number(v || 0).toFixed(1)} %`;
const num = (v) => Number(v || 0).toLocaleString();

export function Analytics() {
  const [preset, setPreset] = useState("30");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [agentId, setAgentId] = useState("");
  const r = range(preset, from, to);
  const q = { start_date: r.start + "T00:00:00Z", end_date: r.end + "T23:59:59Z" };
  const support = useLoad(() => api.get("/analytic/support", { ...q, agent_id: agentId }), [r.start, r.end, agentId]);
  const s = support.data;
  const dash = useLoad(() => api.get("/analytic/dashboard"), []);
  const leads = useLoad(() => api.get("/analytic/leads", q), [r.start, r.end]);
  const usage = useLoad(() => api.get("/analytic/usage", q), [r.start, r.end]);
  const d = dash.data;
  const timeline = usage.data?.activity_timeline || [];  // the chosen range, however long
  const msg = d?.conversation_analytics?.message_analytics || {};
  const l = leads.data;
  const funnel = l ? [
    { stage: "New", n: l.lead_summary.total_leads },
    { stage: "Contacted", n: l.lead_summary.contacted_leads + l.lead_summary.qualified_leads + l.lead_summary.converted_leads },
    { stage: "Qualified", n: l.lead_summary.qualified_leads + l.lead_summary.converted_leads },
    { stage: "Converted", n: l.lead_summary.converted_leads },
  ] : [];
  const tokens = usage.data?.token_usage || {};
  const rt = s?.response_time_seconds || {};
  const percentiles = ["p50", "p90", "p95", "p99"].map((k) => ({ k, v: rt[k] || 0 }));
  const models = d?.performance_analytics?.model_performance || [];
  return html`<${Page} title="Analytics">
    <div class="filters">
      <${Select} label="Period" value=${preset} onChange=${setPreset}
        options=${[{ value: "7", label: "Last 7 days" }, { value: "30", label: "Last 30 days" }, { value: "90", label: "Last 90 days" }, { value: "custom", label: "Custom range" }]} />
      ${preset === "custom" ? html`<${Input} label="From" type="date" value=${from} onInput=${setFrom} /><${Input} label="To" type="date" value=${to} onInput=${setTo} />` : null}
      <${AgentPicker} any value=${agentId} onChange=${setAgentId} />
    </div>
    <${ErrorBox} error=${dash.error || leads.error || usage.error || support.error} />
    ${!d && !dash.error ? html`<${Loading} what="Loading analytics" />` : null}
    ${d ? html`<div class="kpis">
      <${Kpi} label="Conversations" value=${num(usage.data?.agent_usage?.total_conversations)} hint=${`in this period; ${num(d.core_metrics?.conversation_count)} in all`} />
      <${Kpi} label="Resolution rate" value=${pct(s?.resolution?.resolution_rate_percent)} hint="answered from knowledge, no thumbs-down" />
      <${Kpi} label="Deflection rate" value=${pct(s?.deflection?.deflection_rate_percent)} />
      <${Kpi} label="CSAT" value=${pct(s?.csat?.csat_percent)} hint=${`${num(s?.csat?.rated_conversations)} rated conversations`} />
      <${Kpi} label="Median response time" value=${`${Number(rt.p50 || 0).toFixed(2)} s`} hint=${`p95 ${Number(rt.p95 || 0).toFixed(2)} s`} />
      <${Kpi} label="Leads" value=${num(l?.lead_summary?.total_leads)} />
      <${Kpi} label="Tokens used" value=${num(s?.tokens?.total_tokens ?? tokens.total_tokens)} hint=${`${num(s?.tokens?.tokens_per_conversation)} per conversation`} />
      <${Kpi} label="Token cost" value=${`$${Number(s?.tokens?.total_cost_usd || 0).toFixed(4)}`} hint=${`$${Number(s?.tokens?.cost_per_conversation_usd || 0).toFixed(4)} per conversation`} />
    </div>
    <div class="charts">
      <${BarChart} title="Conversations and messages per day" rows=${timeline} x="date"
        ys=${[{ key: "conversations", label: "Conversations" }, { key: "messages", label: "Messages" }]} />
      <${HBars} title="Leads funnel" rows=${funnel} label="stage" value="n" />
      <${BarChart} title="New leads per day" rows=${(l?.daily_trend || []).map((x) => ({ date: x.date, leads: x.lead_count, conversions: x.conversions }))} x="date"
        ys=${[{ key: "leads", label: "New leads" }, { key: "conversions", label: "Conversions" }]} />
      <${HBars} title="Response-time percentiles (seconds)" rows=${percentiles} label="k" value="v" format=${(v) => Number(v || 0).toFixed(2)} />
      <${HBars} title="Top questions" rows=${s?.top_questions || []} label="question" value="count" />
      <${HBars} title="Unanswered questions" rows=${s?.unanswered_questions || []} label="question" value="count" />
      <${HBars} title="Top topics" rows=${s?.top_topics || []} label="topic" value="answers" />
      <${HBars} title="Token cost by model (USD)" rows=${s?.tokens?.by_model || []} label="model" value="cost_usd" format=${(v) => Number(v || 0).toFixed(4)} />
      <${HBars} title="Response time by model (seconds)" rows=${models} label="model" value="average_processing_time" format=${(v) => Number(v || 0).toFixed(2)} />
      <${HBars} title="Conversion funnel rates" rows=${l ? [
        { k: "Contact rate", v: l.conversion_funnel.contact_rate_percent },
        { k: "Qualification rate", v: l.conversion_funnel.qualification_rate_percent },
        { k: "Conversion rate", v: l.conversion_funnel.conversion_rate_percent }] : []} label="k" value="v" format=${pct} />
    </div>` : null}
  </${Page}>`;
}
