// The JSON API as the pages use it: the login token, fetch with errors as exceptions,
// and small formatting helpers shared by every page.

const TOKEN_KEY = "trioflix.token";
const USER_KEY = "trioflix.user";

export class ApiError extends Error {
  constructor(status, code, message, retryAfter, field = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
    this.field = field; // the body value at fault (422 invalid_body), e.g. "password"
  }
}

export function token() {
  return localStorage.getItem(TOKEN_KEY);
}

export function currentUser() {
  const text = localStorage.getItem(USER_KEY);
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

export function saveLogin(body) {
  localStorage.setItem(TOKEN_KEY, body.token);
  localStorage.setItem(USER_KEY, JSON.stringify(body.user));
}

export function logout() {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
}

export async function api(path, { method = "GET", body, auth = true, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  const bearer = auth ? token() : null;
  if (bearer) init.headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    if (response.status === 401 && bearer) logout();
    throw new ApiError(
      response.status,
      error.code || "http_" + response.status,
      error.message || response.statusText,
      Number(response.headers.get("Retry-After")) || null,
      error.field || null,
    );
  }
  return data;
}

// Send the visitor to the sign-in page (and back here afterwards) when they have no token.
export function requireLogin() {
  if (token()) return true;
  location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  return false;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "0:00";
  const s = Math.floor(seconds % 60);
  const m = Math.floor(seconds / 60) % 60;
  const h = Math.floor(seconds / 3600);
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
}

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return "?";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return (unit ? value.toFixed(1) : value) + " " + units[unit];
}

export function formatMoney(minor, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(minor / 100);
  } catch {
    return (minor / 100).toFixed(2) + " " + currency;
  }
}

export function timeAgo(unixSeconds) {
  if (!unixSeconds) return "";
  const delta = Date.now() / 1000 - unixSeconds;
  const steps = [
    [60, "second"],
    [3600, "minute"],
    [86400, "hour"],
    [2592000, "day"],
    [31536000, "month"],
  ];
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  let previous = 1;
  for (const [limit, unit] of steps) {
    if (Math.abs(delta) < limit) return rtf.format(-Math.round(delta / previous), unit);
    previous = limit;
  }
  return rtf.format(-Math.round(delta / 31536000), "year");
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// --- forms ---------------------------------------------------------------------------
// A form checks the obvious rules in the browser before sending (its inputs' required,
// minlength, maxlength, pattern, min and max, which match the server's rules) and shows
// each message beside its field, in the server's words. The form keeps `novalidate`,
// so the messages are ours rather than the browser's bubbles. An input's `data-label`
// names it in messages (default: its name), `data-rule` says what its pattern means.

function fieldLabel(input) {
  const name = input.dataset.label || input.name.replace(/_/g, " ");
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/** What is wrong with `input`, as the API would say it; "" when nothing is. */
export function fieldProblem(input) {
  const v = input.validity;
  const label = fieldLabel(input);
  if (v.valid) return "";
  if (v.valueMissing) return `${label} is required.`;
  if (v.tooShort) return `${label} must be at least ${input.minLength} characters.`;
  if (v.tooLong) return `${label} must be at most ${input.maxLength} characters.`;
  if (v.patternMismatch) return `${label} must be ${input.dataset.rule || "in the expected form"}.`;
  if (v.rangeUnderflow) return `${label} must be at least ${input.min}.`;
  if (v.rangeOverflow) return `${label} must be at most ${input.max}.`;
  return `${label} is not valid.`;
}

/** Show `message` beside `input` (or clear it with ""), tied to it for screen readers. */
export function setFieldError(input, message) {
  const id = `${input.id || input.name}-error`;
  let note = document.getElementById(id);
  if (!note) {
    note = el("small", { class: "field-error", id, role: "alert" });
    (input.closest("label") || input).after(note); // outside the label: not part of its name
    const described = input.getAttribute("aria-describedby");
    input.setAttribute("aria-describedby", described ? `${described} ${id}` : id);
  }
  note.textContent = message;
  note.hidden = !message;
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

/** Clear every field message of `form` (and `summary`, its box for other errors). */
export function clearFormErrors(form, summary = null) {
  for (const input of form.elements) if (input.name) setFieldError(input, "");
  if (summary) summary.textContent = "";
}

/**
 * Check `form`'s visible fields before sending: shows each problem beside its field,
 * focuses the first, and returns whether the form may be sent.
 */
export function checkForm(form) {
  let first = null;
  for (const input of form.elements) {
    if (!input.name || !input.willValidate || input.closest("[hidden]")) continue;
    const problem = fieldProblem(input);
    setFieldError(input, problem);
    if (problem && !first) first = input;
  }
  if (first) first.focus();
  return first === null;
}

/**
 * Show an ApiError from sending `form`: beside the field the server named (its
 * `field`), else in `summary`.
 */
export function showFormError(form, error, summary) {
  const input = error.field ? form.elements.namedItem(error.field) : null;
  if (input instanceof HTMLElement) {
    setFieldError(input, error.message);
    input.focus();
  } else {
    summary.textContent = error.message;
  }
}
