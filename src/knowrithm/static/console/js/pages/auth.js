// Sign-in, sign-up, password reset and email verification (the mailed links land here).
import { api, signedIn } from "../api.js";
import { html, useState, useEffect, Input, Button, ErrorBox, Notice, Link, navigate, useAction } from "../ui.js";

const signupEnabled = () => document.querySelector('meta[name="knowrithm-signup"]')?.content === "true";
const param = (name) => new URLSearchParams(location.search).get(name) || "";

function AuthCard({ title, children }) {
  useEffect(() => { document.title = `${title} · Knowrithm`; }, [title]);
  return html`<div class="auth-card"><p class="brand">Knowrithm</p><h1 id="page-title" tabindex="-1">${title}</h1>${children}</div>`;
}

function afterSignIn() {
  const next = param("next");
  navigate(next.startsWith("/app") ? next : "/app", { replace: true });
}

export function Login() {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [run, { busy, error }] = useAction(async () => {
    const body = await api.post("/auth/login", { email, password });
    signedIn(body);
    afterSignIn();
  });
  return html`<${AuthCard} title="Sign in">
    <form onSubmit=${(e) => { e.preventDefault(); run(); }}>
      <${Input} label="Email" type="email" autocomplete="email" required value=${email} onInput=${setEmail} />
      <${Input} label="Password" type="password" autocomplete="current-password" required value=${password} onInput=${setPassword} />
      <${ErrorBox} error=${error} />
      <${Button} kind="primary" busy=${busy} type="submit">Sign in</${Button}>
    </form>
    <p class="links"><${Link} href="/app/forgot-password">Forgot your password?</${Link}>
      ${signupEnabled() ? html` · <${Link} href="/app/signup">Create a company account</${Link}>` : null}</p>
  </${AuthCard}>`;
}

export function Signup() {
  const [f, setF] = useState({ company_name: "", first_name: "", last_name: "", email: "", password: "" });
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const [run, { busy, error }] = useAction(async () => {
    const body = await api.post("/auth/register", { ...f, accept_terms: true });
    signedIn(body);
    navigate("/app/agents", { replace: true });
  });
  if (!signupEnabled()) {
    return html`<${AuthCard} title="Sign-up is closed"><p>This platform does not accept new companies. Ask its administrator for an account.</p>
      <p><${Link} href="/app/login">Sign in</${Link}></p></${AuthCard}>`;
  }
  return html`<${AuthCard} title="Create your company account">
    <form onSubmit=${(e) => { e.preventDefault(); run(); }}>
      <${Input} label="Company name" required value=${f.company_name} onInput=${set("company_name")} autocomplete="organization" />
      <div class="row">
        <${Input} label="First name" required value=${f.first_name} onInput=${set("first_name")} autocomplete="given-name" />
        <${Input} label="Last name" required value=${f.last_name} onInput=${set("last_name")} autocomplete="family-name" />
      </div>
      <${Input} label="Work email" type="email" required value=${f.email} onInput=${set("email")} autocomplete="email" />
      <${Input} label="Password" type="password" required minlength="8" value=${f.password} onInput=${set("password")}
        autocomplete="new-password" hint="At least 8 characters with a letter and a digit." />
      <${ErrorBox} error=${error} />
      <${Button} kind="primary" busy=${busy} type="submit">Create account</${Button}>
    </form>
    <p class="links">Already registered? <${Link} href="/app/login">Sign in</${Link}></p>
  </${AuthCard}>`;
}

export function Forgot() {
  const [email, setEmail] = useState("");
  const [run, { busy, error, result }] = useAction(() => api.post("/auth/forgot-password", { email }));
  return html`<${AuthCard} title="Reset your password">
    <form onSubmit=${(e) => { e.preventDefault(); run(); }}>
      <${Input} label="Email" type="email" required value=${email} onInput=${setEmail} autocomplete="email" />
      <${ErrorBox} error=${error} />
      <${Notice}>${result?.message}</${Notice}>
      <${Button} kind="primary" busy=${busy} type="submit">Mail me a reset link</${Button}>
    </form>
    <p class="links"><${Link} href="/app/login">Back to sign in</${Link}></p>
  </${AuthCard}>`;
}

export function ResetPassword() {
  const token = param("token");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [run, { busy, error, result }] = useAction(() => {
    if (password !== confirm) throw new Error("The two passwords differ.");
    return api.post("/auth/reset-password", { token, password });
  });
  if (!token) {
    return html`<${AuthCard} title="Reset your password"><p class="error" role="alert">This link has no reset token. Open the link from the email again, or ask for a new one.</p>
      <p><${Link} href="/app/forgot-password">Ask for a new link</${Link}></p></${AuthCard}>`;
  }
  return html`<${AuthCard} title="Choose a new password">
    ${result ? html`<p class="notice" role="status">${result.message}</p><p><${Link} href="/app/login">Sign in</${Link}></p>` : html`
    <form onSubmit=${(e) => { e.preventDefault(); run(); }}>
      <${Input} label="New password" type="password" required value=${password} onInput=${setPassword} autocomplete="new-password" />
      <${Input} label="Repeat the new password" type="password" required value=${confirm} onInput=${setConfirm} autocomplete="new-password" />
      <${ErrorBox} error=${error} />
      <${Button} kind="primary" busy=${busy} type="submit">Set password</${Button}>
    </form>`}
  </${AuthCard}>`;
}

export function VerifyEmail() {
  const token = param("token");
  const [state, setState] = useState({ busy: !!token, error: null, result: null });
  const [email, setEmail] = useState("");
  const [resend, sent] = useAction(() => api.post("/send", { email }));
  useEffect(() => {
    if (!token) return;
    api.post("/verify", { token }).then(
      (result) => setState({ busy: false, error: null, result }),
      (error) => setState({ busy: false, error, result: null }),
    );
  }, [token]);
  return html`<${AuthCard} title="Verify your email">
    ${state.busy ? html`<p role="status">Checking your link…</p>` : null}
    ${state.result ? html`<p class="notice" role="status">Your email address <bdi>${state.result.user?.email}</bdi> is verified.</p>
      <p><${Link} href="/app">Open the console</${Link}></p>` : null}
    ${!token ? html`<p class="error" role="alert">This link has no verification token.</p>` : null}
    <${ErrorBox} error=${state.error} />
    ${!state.result && !state.busy ? html`<form onSubmit=${(e) => { e.preventDefault(); resend(); }}>
      <${Input} label="Email" type="email" required value=${email} onInput=${setEmail} />
      <${ErrorBox} error=${sent.error} />
      <${Notice}>${sent.result?.message}</${Notice}>
      <${Button} busy=${sent.busy} type="submit">Send a new link</${Button}>
    </form>` : null}
  </${AuthCard}>`;
}
