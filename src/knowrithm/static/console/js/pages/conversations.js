// Conversations: a filtered list and a transcript with sources and feedback.
import { api } from "../api.js";
import { html, useState, Page, Loading, Empty, ErrorBox, Input, Select, Status, Link, Pager, useLoad, when, errorText } from "../ui.js";
import { AgentPicker } from "./common.js";
import { Sources } from "./agents.js";

export function Conversations() {
  const [f, setF] = useState({ agent_id: "", status: "", search: "", entity_type: "", created_after: "" });
  const [page, setPage] = useState(1);
  const set = (k) => (v) => { setF({ ...f, [k]: v }); setPage(1); };
  const { data, error, loading } = useLoad(() => api.get("/conversation", { ...f, created_after: f.created_after ? f.created_after + "T00:00:00Z" : "", page, per_page: 25 }), [f, page]);
  const rows = data?.conversations || [];
  return html`<${Page} title="Conversations">
    <div class="filters">
      <${AgentPicker} any value=${f.agent_id} onChange=${set("agent_id")} />
      <${Select} label="Status" value=${f.status} onChange=${set("status")} options=${[{ value: "", label: "Any" }, ...["active", "archived"].map((s) => ({ value: s, label: s }))]} />
      <${Select} label="With" value=${f.entity_type} onChange=${set("entity_type")} options=${[{ value: "", label: "Anyone" }, { value: "lead", label: "Visitors (leads)" }, { value: "user", label: "Team members" }]} />
      <${Input} label="Since" type="date" value=${f.created_after} onInput=${set("created_after")} />
      <${Input} label="Search titles" type="search" value=${f.search} onInput=${set("search")} />
    </div>
    <${ErrorBox} error=${error} />
    ${loading && !data ? html`<${Loading} />` : null}
    ${data && !rows.length ? html`<${Empty}>No conversations match.</${Empty}>` : null}
    ${rows.length ? html`<div class="table-wrap"><table>
      <caption class="visually-hidden">Conversations</caption>
      <thead><tr><th scope="col">Title</th><th scope="col">Agent</th><th scope="col">With</th><th scope="col">Messages</th><th scope="col">Status</th><th scope="col">Last activity</th></tr></thead>
      <tbody>${rows.map((c) => html`<tr key=${c.id}>
        <td class="title"><${Link} href=${"/app/conversations/" + c.id}><bdi>${c.title || "Untitled"}</bdi></${Link}></td>
        <td><bdi>${c.agent?.name || ""}</bdi></td><td>${c.entity_type}</td><td>${c.message_count}</td>
        <td><${Status} value=${c.status} /></td><td>${when(c.last_activity)}</td>
      </tr>`)}</tbody></table></div>` : null}
    <${Pager} pagination=${data?.pagination} onPage=${setPage} />
  </${Page}>`;
}

export function Transcript({ params }) {
  const id = params[0];
  const { data, error, reload } = useLoad(() => api.get(`/conversation/${id}/messages`, { per_page: 200 }), [id]);
  const messages = data?.messages || [];
  return html`<${Page} title=${data?.title || data?.conversation?.title || "Conversation"}>
    <p><${Link} href="/app/conversations">← All conversations</${Link}></p>
    <${ErrorBox} error=${error} />
    ${!data && !error ? html`<${Loading} />` : null}
    ${data && !messages.length ? html`<${Empty}>No messages in this conversation.</${Empty}>` : null}
    <ol class="transcript" aria-label="Transcript">${messages.map((m) => html`<li key=${m.id} class=${"msg " + m.role} data-id=${m.id}>
      <span class="role">${m.role === "assistant" ? "Agent" : m.role === "user" ? "Visitor" : m.role}</span>
      <span class="muted small"> ${when(m.created_at)}${m.processing_time ? ` · ${Number(m.processing_time).toFixed(2)} s` : ""}${m.model_used ? ` · ${m.model_used}` : ""}</span>
      <p class="answer"><bdi>${m.content}</bdi></p>
      <${Sources} message=${m} />
      ${m.role === "assistant" ? html`<${Feedback} message=${m} onDone=${reload} />` : null}
    </li>`)}</ol>
  </${Page}>`;
}

function Feedback({ message, onDone }) {
  const [error, setError] = useState(null);
  const current = message.user_feedback;
  const rate = async (rating) => {
    try { await api.post(`/message/${message.id}/feedback`, { rating }); setError(null); onDone(); } catch (err) { setError(err); }
  };
  return html`<div class="feedback" role="group" aria-label="Rate this answer">
    <button aria-pressed=${current === "up"} onClick=${() => rate("up")}>Helpful</button>
    <button aria-pressed=${current === "down"} onClick=${() => rate("down")}>Not helpful</button>
    ${error ? html`<span class="error" role="alert">${errorText(error)}</span>` : null}
  </div>`;
}
