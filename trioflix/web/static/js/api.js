// The JSON API as the pages use it: the login token, fetch with errors as exceptions,
// and small formatting helpers shared by every page.

const TOKEN_KEY = "trioflix.token";
const USER_KEY = "trioflix.user";

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
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
