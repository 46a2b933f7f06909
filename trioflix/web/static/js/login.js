// Sign in or register, then go back where the visitor came from (?next=).
import { api, checkForm, clearFormErrors, saveLogin, showFormError } from "./api.js";

const form = document.getElementById("auth-form");
const errorBox = document.getElementById("auth-error");
const submit = document.getElementById("auth-submit");
const title = document.getElementById("auth-title");
const tabs = { login: document.getElementById("tab-login"), register: document.getElementById("tab-register") };
let mode = "login";

function setMode(next) {
  mode = next;
  for (const [name, tab] of Object.entries(tabs)) tab.setAttribute("aria-selected", String(name === mode));
  for (const node of document.querySelectorAll(".register-only")) node.hidden = mode !== "register";
  const label = mode === "login" ? "Sign in" : "Create account";
  submit.textContent = label;
  title.textContent = label;
  document.getElementById("password").autocomplete = mode === "login" ? "current-password" : "new-password";
  clearFormErrors(form, errorBox);
}
tabs.login.addEventListener("click", () => setMode("login"));
tabs.register.addEventListener("click", () => setMode("register"));
if (new URLSearchParams(location.search).get("register")) setMode("register");

function safeNext() {
  const next = new URLSearchParams(location.search).get("next") || "/studio";
  // Only paths on this site: never "//other.host" or "https://...".
  return next.startsWith("/") && !next.startsWith("//") ? next : "/studio";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearFormErrors(form, errorBox);
  // Trimmed as sent, so that the check sees what the server will.
  form.elements.username.value = form.elements.username.value.trim();
  if (!checkForm(form)) return;
  const data = Object.fromEntries(new FormData(form));
  const body = { username: data.username.trim(), password: data.password };
  if (mode === "register" && data.display_name && data.display_name.trim()) {
    body.display_name = data.display_name.trim();
  }
  submit.disabled = true;
  try {
    const answer = await api("/api/auth/" + mode, { method: "POST", body, auth: false });
    saveLogin(answer);
    location.assign(safeNext());
  } catch (error) {
    if (error.code === "invalid_credentials") errorBox.textContent = "Wrong username or password.";
    else showFormError(form, error, errorBox);
  } finally {
    submit.disabled = false;
  }
});
