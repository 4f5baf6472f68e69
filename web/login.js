// The login page: posts the email and password to /api/v1/auth/login; the server sets the
// HttpOnly session cookie, and the dashboard reads its CSRF token from /api/v1/auth/me. When
// OIDC sign-in is configured a "sign in with SSO" link is shown; a failed SSO sign-in comes
// back here with its reason in ?error=.
(() => {
  "use strict";
  const form = document.getElementById("login");
  const box = document.getElementById("login-error");
  const sso = document.getElementById("sso");
  const show = (text) => { box.textContent = text; box.hidden = !text; };
  const params = new URLSearchParams(location.search);
  if (params.get("error")) show(params.get("error"));
  fetch("/api/v1/auth/methods", { headers: { accept: "application/json" } })
    .then((r) => (r.ok ? r.json() : null))
    .then((m) => { if (m && m.oidc) sso.hidden = false; })
    .catch(() => {});
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    show("");
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const res = await fetch("/api/v1/auth/login", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ email: form.email.value, password: form.password.value }),
      });
      if (res.ok) {
        const next = params.get("next") || "/ui/overview";
        location.assign(next.startsWith("/ui") ? next : "/ui/overview");
        return;
      }
      let message = `${res.status} ${res.statusText}`;
      try { message = (await res.json()).error.message || message; } catch (_) { /* not JSON */ }
      show(message);
    } catch (e) {
      show("tokenwatch cannot be reached: " + e.message);
    } finally {
      button.disabled = false;
    }
  });
})();
