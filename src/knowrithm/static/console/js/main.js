// Entry point: the shell (navigation, sign-in gate, impersonation banner) and the route table.
import { render } from "../vendor/preact-htm.js";
import { getSession, onSession, signOut, impersonator, stopImpersonating } from "./api.js";
import { html, useState, useEffect, useLocation, Link, navigate } from "./ui.js";
import { Login, Signup, Forgot, ResetPassword, VerifyEmail } from "./pages/auth.js";
import { Agents, AgentNew, AgentDetail } from "./pages/agents.js";
import { Documents } from "./pages/documents.js";
import { Websites } from "./pages/websites.js";
import { Databases } from "./pages/databases.js";
import { Conversations, Transcript } from "./pages/conversations.js";
import { Leads } from "./pages/leads.js";
import { Analytics } from "./pages/analytics.js";
import { Profile, ApiKeys } from "./pages/account.js";
import { Companies, Users, Catalog, System, Audit } from "./pages/admin.js";
import { Privacy } from "./pages/privacy.js";

const PUBLIC = [
  [/^\/app\/login$/, Login],
  [/^\/app\/signup$/, Signup],
  [/^\/app\/forgot-password$/, Forgot],
  [/^\/reset-password$/, ResetPassword],
  [/^\/verify$/, VerifyEmail],
];

const PRIVATE = [
  [/^\/app\/?$/, Analytics],
  [/^\/app\/analytics$/, Analytics],
  [/^\/app\/agents$/, Agents],
  [/^\/app\/agents\/new$/, AgentNew],
  [/^\/app\/agents\/([^/]+)$/, AgentDetail],
  [/^\/app\/documents$/, Documents],
  [/^\/app\/websites$/, Websites],
  [/^\/app\/databases$/, Databases],
  [/^\/app\/conversations$/, Conversations],
  [/^\/app\/conversations\/([^/]+)$/, Transcript],
  [/^\/app\/leads$/, Leads],
  [/^\/app\/profile$/, Profile],
  [/^\/app\/api-keys$/, ApiKeys],
  [/^\/app\/admin\/companies$/, Companies, "super_admin"],
  [/^\/app\/admin\/users$/, Users, "admin"],
  [/^\/app\/admin\/catalog$/, Catalog, "admin"],
  [/^\/app\/admin\/system$/, System, "super_admin"],
  [/^\/app\/admin\/audit$/, Audit, "admin"],
  [/^\/app\/admin\/privacy$/, Privacy, "admin"],
];

const NAV = [
  ["Overview", [["/app/analytics", "Analytics"], ["/app/agents", "Agents"]]],
  ["Knowledge", [["/app/documents", "Documents"], ["/app/websites", "Websites"], ["/app/databases", "Databases"]]],
  ["Engagement", [["/app/conversations", "Conversations"], ["/app/leads", "Leads"]]],
  ["Account", [["/app/profile", "Profile"], ["/app/api-keys", "API keys"]]],
];
const ADMIN_NAV = ["Administration", [["/app/admin/users", "Users", "admin"], ["/app/admin/catalog", "Models", "admin"],
  ["/app/admin/audit", "Audit log", "admin"], ["/app/admin/privacy", "Data and privacy", "admin"],
  ["/app/admin/companies", "Companies", "super_admin"],
  ["/app/admin/system", "System", "super_admin"]]];

const RANK = { user: 1, admin: 2, super_admin: 3 };
const allowed = (user, role) => !role || (RANK[user?.role] || 0) >= RANK[role];

function match(table, path) {
  for (const [re, view, role] of table) {
    const m = path.match(re);
    if (m) return { view, params: m.slice(1).map(decodeURIComponent), role };
  }
  return null;
}

function useSession() {
  const [s, set] = useState(getSession());
  useEffect(() => onSession(set), []);
  return s;
}

function Shell({ session, children, path }) {
  const [open, setOpen] = useState(false);
  const user = session.user || {};
  const stash = impersonator();
  useEffect(() => setOpen(false), [path]);
  const groups = [...NAV, ADMIN_NAV].map(([title, links]) => [title, links.filter(([, , role]) => allowed(user, role))])
    .filter(([, links]) => links.length);
  return html`
    <a class="skip" href="#main">Skip to content</a>
    ${session.impersonating ? html`<div class="impersonation" role="status">
      <span>You are acting as <bdi>${user.email}</bdi>${stash?.user ? html` (signed in as <bdi>${stash.user.email}</bdi>)` : null}.</span>
      <button onClick=${() => { stopImpersonating(); navigate("/app/admin/users"); }}>Return to my account</button>
    </div>` : null}
    <header class="topbar">
      <button class="menu ghost" aria-expanded=${open} aria-controls="nav" onClick=${() => setOpen(!open)}>Menu</button>
      <${Link} class="brand" href="/app">Knowrithm</${Link}>
      <span class="who"><bdi>${[user.first_name, user.last_name].filter(Boolean).join(" ") || user.email}</bdi> · ${(user.role || "").replace("_", " ")}</span>
      <button class="ghost" onClick=${async () => { await signOut(); navigate("/app/login"); }}>Sign out</button>
    </header>
    <div class="layout">
      <nav id="nav" class=${open ? "open" : ""} aria-label="Main">
        ${groups.map(([title, links]) => html`<div class="nav-group" key=${title}>
          <h2>${title}</h2>
          <ul>${links.map(([href, label]) => html`<li key=${href}>
            <${Link} href=${href} aria-current=${path === href || path.startsWith(href + "/") ? "page" : undefined}>${label}</${Link}></li>`)}</ul>
        </div>`)}
      </nav>
      <main id="main" tabindex="-1">${children}</main>
    </div>`;
}

// Navigates once mounted (the router's listeners exist by then).
function Redirect({ to }) {
  useEffect(() => navigate(to, { replace: true }), [to]);
  return null;
}

function NotFound() {
  return html`<section class="page"><h1>Page not found</h1><p>There is nothing at this address. <${Link} href="/app">Go to the console</${Link}>.</p></section>`;
}

function App() {
  const path = useLocation();
  const session = useSession();
  const pub = match(PUBLIC, path);
  useEffect(() => {
    // Move focus to the new page's heading so screen readers announce the navigation.
    const h = document.getElementById("page-title");
    if (h) h.focus({ preventScroll: true });
  }, [path]);
  if (pub) return html`<main id="main" class="auth-main"><${pub.view} params=${pub.params} /></main>`;
  if (!session?.access_token) {
    const next = path.startsWith("/app/") && path !== "/app/login" ? `?next=${encodeURIComponent(path)}` : "";
    return html`<${Redirect} to=${"/app/login" + next} />`;
  }
  const hit = match(PRIVATE, path);
  let view = html`<${NotFound} />`;
  if (hit && allowed(session.user, hit.role)) view = html`<${hit.view} params=${hit.params} session=${session} key=${path} />`;
  else if (hit) view = html`<section class="page"><h1>Not allowed</h1><p>Your role cannot open this page.</p></section>`;
  return html`<${Shell} session=${session} path=${path}>${view}</${Shell}>`;
}

document.getElementById("root").textContent = "";
render(html`<${App} />`, document.getElementById("root"));
