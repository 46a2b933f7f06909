// The chat panel: the websocket protocol of docs/chat-protocol.md in a sidebar.
//
// Messages render the server's segments (text and emotes, never raw HTML; http(s)
// URLs in the text become links that open elsewhere without the page's referrer);
// SuperChats show in their tier colour and, while pinned, in the ticker above the list;
// a moderator gets a menu on every message; an emote picker beside the input inserts
// `:codes:`; refusals (slow mode, rate limits) are shown with their countdown, and a
// ban or timeout with its reason and the time left; a dropped connection reconnects
// with `since` so nothing is missed.
import { api, el, formatDuration, formatMoney, token } from "./api.js";

const CURRENCIES = ["USD", "EUR", "GBP", "CAD", "AUD", "CHF"];
const SUPERCHAT_PRESETS = [200, 500, 1000, 2000, 5000];
const MAX_MESSAGES = 300; // rendered; older ones scroll away
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 15000;
const FINAL_CLOSE_CODES = new Set([4401, 4404]);
// A URL runs to the next space; punctuation ending it belongs to the sentence around it.
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"]+/gi;
const URL_TRAILING = /[.,;:!?'")\]}]+$/;
// Links leave the page: no referrer, no window.opener, and no ranking credit for spam.
const LINK_REL = "nofollow noopener noreferrer";
const SETTINGS_WAITS = new Set(["slow_mode", "account_too_new"]); // refusals the room's settings cause
const TIMEOUT_CHOICES = [
  [60, "1 minute"],
  [600, "10 minutes"],
  [3600, "1 hour"],
  [86400, "1 day"],
];

let nonceCounter = 0;
function nonce() {
  nonceCounter += 1;
  return "c" + nonceCounter + "-" + Math.random().toString(36).slice(2, 8);
}

/** A random SuperChat idempotency key (crypto.randomUUID needs a secure context; this does not). */
function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** "10 minutes", "1 hour", "90 seconds": a timeout's length as a moderator chose it. */
export function describeSeconds(seconds) {
  for (const [size, unit] of [
    [86400, "day"],
    [3600, "hour"],
    [60, "minute"],
  ]) {
    if (seconds >= size && seconds % size === 0) {
      const count = seconds / size;
      return `${count} ${unit}${count === 1 ? "" : "s"}`;
    }
  }
  return `${seconds} second${seconds === 1 ? "" : "s"}`;
}

function safeHref(text) {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** Text with its http(s) URLs as links: DOM nodes only, the user's text never parsed as HTML. */
function linkify(text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const shown = match[0].replace(URL_TRAILING, "");
    const href = safeHref(shown);
    if (!href) continue;
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push(el("a", { class: "chat-link", href, target: "_blank", rel: LINK_REL }, shown));
    last = match.index + shown.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

/** An emote as an image (channel) or emoji (global); `decorative` where a button names it. */
function emoteNode(emote, { decorative = false } = {}) {
  const name = ":" + emote.code + ":";
  if (emote.url) {
    const label = decorative ? { alt: "" } : { alt: name, title: name };
    return el("img", { class: "emote", src: emote.url, width: "28", height: "28", ...label });
  }
  const label = decorative ? { "aria-hidden": "true" } : { role: "img", "aria-label": emote.code, title: name };
  return el("span", { class: "emoji", ...label }, emote.emoji);
}

function renderSegments(segments, fallback) {
  if (!segments) return linkify(fallback || "");
  return segments.flatMap((segment) => (segment.type === "emote" ? emoteNode(segment) : linkify(segment.text)));
}

export class ChatPanel {
  constructor(root, channel) {
    this.root = root;
    this.channel = channel;
    this.lastId = null;
    this.role = "viewer";
    this.settings = {};
    this.pending = new Map(); // nonce -> {resolve, reject}
    this.backoff = RECONNECT_MIN_MS;
    this.socket = null;
    this.closedForGood = false;
    this.cooldownUntil = 0;
    this.build();
    this.connect();
    setInterval(() => this.tick(), 1000);
  }

  // --- layout ------------------------------------------------------------------------

  build() {
    this.status = el("span", { class: "chat-status muted", role: "status" }, "Connecting…");
    this.viewers = el("span", { class: "chat-viewers muted" });
    this.modeInfo = el("div", { class: "chat-modes muted", "aria-live": "polite" });
    this.ticker = el("div", { class: "superchat-ticker", "aria-label": "Pinned SuperChats", hidden: true });
    this.list = el("ol", { class: "chat-list", "aria-live": "polite", "aria-relevant": "additions" });
    this.feedback = el("p", { class: "chat-feedback", role: "alert" });
    this.input = el("input", {
      id: "chat-input",
      class: "chat-input",
      maxlength: "500",
      autocomplete: "off",
      placeholder: "Send a message",
      "aria-label": "Chat message",
    });
    this.sendButton = el("button", { type: "submit", class: "button primary" }, "Chat");
    this.emoteButton = el(
      "button",
      {
        type: "button",
        class: "button emote-toggle",
        title: "Emotes",
        "aria-label": "Emotes",
        "aria-haspopup": "dialog",
        "aria-expanded": "false",
        "aria-controls": "emote-picker",
      },
      "\u263a",
    );
    this.picker = el("div", { id: "emote-picker", class: "emote-picker", role: "dialog", "aria-label": "Emotes", hidden: true });
    this.superButton = el(
      "button",
      { type: "button", class: "button superchat-toggle", "aria-expanded": "false", "aria-controls": "superchat-form" },
      "SuperChat",
    );
    this.form = el(
      "form",
      { class: "chat-form", "aria-label": "Send a chat message" },
      this.input,
      this.emoteButton,
      this.sendButton,
    );
    this.superForm = this.buildSuperForm();
    this.signIn = el(
      "p",
      { class: "chat-signin muted", hidden: true },
      el("a", { href: "/login?next=" + encodeURIComponent(location.pathname) }, "Sign in"),
      " to chat.",
    );
    this.root.replaceChildren(
      el("header", { class: "chat-header" }, el("h2", {}, "Chat"), this.viewers, this.status),
      this.modeInfo,
      this.ticker,
      this.list,
      el(
        "div",
        { class: "chat-compose" },
        this.feedback,
        this.signIn,
        this.picker,
        this.form,
        this.superButton,
        this.superForm,
      ),
    );
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendMessage();
    });
    this.superButton.addEventListener("click", () => this.toggleSuperForm());
    this.emoteButton.addEventListener("click", () => this.togglePicker());
    this.picker.addEventListener("click", (event) => {
      const choice = event.target.closest(".emote-choice");
      if (choice) this.insertEmote(choice.dataset.code);
    });
    this.picker.addEventListener("keydown", (event) => this.onPickerKey(event));
    this.list.addEventListener("click", (event) => this.onListClick(event));
    document.addEventListener("click", (event) => {
      if (!event.target.closest(".mod-menu, .mod-button")) this.closeMenus();
      if (!event.target.closest(".emote-picker, .emote-toggle")) this.togglePicker(false);
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.closeMenus();
    });
    this.setComposer(false);
  }

  buildSuperForm() {
    this.amount = el("select", { id: "superchat-amount", "aria-label": "Amount" });
    for (const value of SUPERCHAT_PRESETS) this.amount.append(el("option", { value: String(value) }, (value / 100).toFixed(2)));
    this.amount.value = "1000";
    this.currency = el("select", { id: "superchat-currency", "aria-label": "Currency" });
    for (const code of CURRENCIES) this.currency.append(el("option", { value: code }, code));
    this.superText = el("input", {
      id: "superchat-text",
      maxlength: "350",
      placeholder: "Message (optional)",
      "aria-label": "SuperChat message",
    });
    this.balance = el("span", { class: "wallet-balance muted" });
    const topUp = el("button", { type: "button", class: "button subtle", id: "wallet-topup" }, "Top up 20.00");
    topUp.addEventListener("click", () => this.topUp());
    const form = el(
      "form",
      { id: "superchat-form", class: "superchat-form", hidden: true, "aria-label": "Send a SuperChat" },
      el("div", { class: "row" }, this.amount, this.currency),
      this.superText,
      el("div", { class: "row" }, this.balance, topUp),
      el("button", { type: "submit", class: "button primary" }, "Send SuperChat"),
    );
    this.currency.addEventListener("change", () => this.showBalance());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendSuperChat();
    });
    return form;
  }

  setComposer(canSend) {
    const signedIn = Boolean(token());
    this.signIn.hidden = signedIn;
    this.form.hidden = !signedIn;
    this.superButton.hidden = !signedIn || this.role === "owner";
    this.input.disabled = !canSend;
    this.sendButton.disabled = !canSend;
    this.emoteButton.disabled = !canSend;
    if (!canSend) this.togglePicker(false);
  }

  // --- connection --------------------------------------------------------------------

  connect() {
    const params = new URLSearchParams();
    const bearer = token();
    if (bearer) params.set("token", bearer);
    if (this.lastId !== null) params.set("since", String(this.lastId));
    const url = `${location.origin.replace(/^http/, "ws")}/ws/chat/${encodeURIComponent(this.channel)}?${params}`;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.addEventListener("message", (event) => {
      for (const line of String(event.data).split("\n")) {
        if (line) this.handle(JSON.parse(line));
      }
    });
    socket.addEventListener("close", (event) => this.onClose(socket, event));
  }

  onClose(socket, event) {
    if (socket !== this.socket) return;
    this.setComposer(false);
    for (const { reject } of this.pending.values()) reject(new Error("disconnected"));
    this.pending.clear();
    if (FINAL_CLOSE_CODES.has(event.code) || this.closedForGood) {
      this.status.textContent = event.code === 4404 ? "No such channel" : "Disconnected: " + (event.reason || event.code);
      return;
    }
    this.status.textContent = "Reconnecting…";
    this.root.dataset.state = "reconnecting";
    const delay = this.backoff;
    this.backoff = Math.min(RECONNECT_MAX_MS, this.backoff * 2);
    setTimeout(() => this.connect(), delay + Math.random() * 250);
  }

  /** Close the socket the way a network drop would: the panel reconnects and backfills. */
  dropConnection() {
    if (this.socket) this.socket.close(4000, "client drop");
  }

  request(frame) {
    const id = nonce();
    return new Promise((resolve, reject) => {
      if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
        reject(new Error("not connected"));
        return;
      }
      this.pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ ...frame, nonce: id }));
    });
  }

  // --- server frames -----------------------------------------------------------------

  handle(frame) {
    switch (frame.type) {
      case "welcome":
        return this.onWelcome(frame);
      case "message":
      case "superchat":
        return this.addMessage(frame);
      case "delete":
        this.note(frame.id);
        return this.removeMessage(frame.message_id);
      case "ban":
      case "timeout":
      case "unban":
        this.note(frame.id);
        return this.onModeration(frame);
      case "settings":
        this.note(frame.id);
        this.settings = frame.settings;
        // A wait the old settings imposed may no longer apply: let the server say again.
        if (SETTINGS_WAITS.has(this.feedback.dataset.code)) {
          this.cooldownUntil = 0;
          this.feedback.textContent = "";
          delete this.feedback.dataset.code;
        }
        return this.showModes();
      case "announcement": // the server's own line, e.g. a scheduled stream going live
        this.note(frame.id);
        return this.list.append(
          el("li", { class: "chat-system chat-announcement", dataset: { id: frame.id } }, frame.text),
        );
      case "viewers":
        return this.showViewers(frame.count);
      case "ack":
        return this.settle(frame.nonce, frame, null);
      case "error":
        if (frame.nonce && this.pending.has(frame.nonce)) return this.settle(frame.nonce, null, frame);
        return this.showError(frame);
      default:
        return undefined;
    }
  }

  settle(id, ack, error) {
    const waiter = this.pending.get(id);
    if (!waiter) return;
    this.pending.delete(id);
    if (error) waiter.reject(Object.assign(new Error(error.message), error));
    else waiter.resolve(ack);
  }

  note(id) {
    if (typeof id === "number" && (this.lastId === null || id > this.lastId)) this.lastId = id;
  }

  onWelcome(frame) {
    this.backoff = RECONNECT_MIN_MS;
    this.role = frame.role;
    this.user = frame.user;
    this.settings = frame.settings || {};
    this.root.dataset.role = frame.role;
    this.root.dataset.state = "connected";
    this.status.textContent = "";
    if (!frame.resumed || frame.truncated) {
      this.list.replaceChildren();
      this.ticker.replaceChildren();
    }
    for (const event of frame.history || []) this.handle(event);
    if (frame.viewers !== undefined) this.showViewers(frame.viewers);
    this.banned = frame.banned === true;
    this.cooldownUntil = frame.banned_until ? frame.banned_until * 1000 : 0;
    // The welcome's word overrides what replayed history said about this user.
    if (this.banned) this.restrict({ reason: frame.ban_reason });
    else if (frame.banned_until) {
      this.restrict({ reason: frame.ban_reason, seconds: frame.timeout_s, until: this.cooldownUntil });
    } else this.restrict(null);
    this.showModes();
    this.setComposer(frame.role !== "viewer" && !this.banned);
    this.tick(); // a timeout's countdown shows on the send button at once, not a second later
    if (token()) this.showBalance();
  }

  showViewers(count) {
    this.viewers.textContent = `${count} in chat`;
  }

  showModes() {
    const parts = [];
    if (this.settings.slow_mode_s) parts.push(`Slow mode: one message every ${this.settings.slow_mode_s} s`);
    if (this.settings.emote_only) parts.push("Emote-only mode");
    this.modeInfo.textContent = parts.join(" · ");
    this.modeInfo.hidden = !parts.length;
  }

  addMessage(frame) {
    this.note(frame.id);
    if (this.list.querySelector(`[data-id="${frame.id}"]`)) return;
    const user = frame.user || {};
    const name = el(
      "span",
      { class: "chat-name role-" + (user.role || "user"), title: user.name },
      user.display_name || user.name,
    );
    const body = el("span", { class: "chat-text" }, ...renderSegments(frame.segments, frame.text));
    const item = el("li", { class: "chat-message", dataset: { id: frame.id, user: user.name || "" } });
    if (frame.type === "superchat") {
      item.classList.add("superchat");
      item.style.setProperty("--tier", frame.tier.colour);
      item.append(
        el("div", { class: "superchat-head" }, name, el("strong", { class: "superchat-amount" }, formatMoney(frame.amount, frame.currency))),
        body,
      );
      if (frame.pinned_until && frame.pinned_until * 1000 > Date.now()) this.pin(frame);
    } else {
      item.append(name, ": ", body);
    }
    if (this.isModerator() && user.role !== "owner") item.append(this.modButton(frame));
    const stick = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.list.append(item);
    while (this.list.children.length > MAX_MESSAGES) this.list.firstElementChild.remove();
    if (stick) this.list.scrollTop = this.list.scrollHeight;
  }

  pin(frame) {
    const chip = el(
      "div",
      {
        class: "superchat-pin",
        dataset: { id: frame.id, until: String(frame.pinned_until) },
        title: frame.text,
        tabindex: "0",
      },
      el("strong", {}, formatMoney(frame.amount, frame.currency)),
      " ",
      (frame.user && (frame.user.display_name || frame.user.name)) || "",
      el("span", { class: "pin-text" }, ...renderSegments(frame.segments, frame.text)),
    );
    chip.style.setProperty("--tier", frame.tier.colour);
    this.ticker.prepend(chip);
    this.ticker.hidden = false;
  }

  removeMessage(messageId) {
    for (const node of this.root.querySelectorAll(`[data-id="${messageId}"]`)) node.remove();
    this.ticker.hidden = !this.ticker.children.length;
  }

  onModeration(frame) {
    const who = frame.user ? frame.user.name : "?";
    let text;
    if (frame.type === "ban") text = `${who} was banned by ${frame.by}`;
    else if (frame.type === "timeout") text = `${who} was timed out for ${describeSeconds(frame.seconds)} by ${frame.by}`;
    else text = `${who} may chat again (${frame.by})`;
    if (frame.reason) text += `: ${frame.reason}`;
    if (frame.type !== "unban") {
      for (const node of this.list.querySelectorAll(`[data-user="${CSS.escape(who)}"]`)) node.classList.add("from-banned");
    }
    this.list.append(el("li", { class: "chat-system muted", dataset: { id: frame.id } }, text));
    if (this.user && frame.user && frame.user.id === this.user.id) {
      if (frame.type === "ban") {
        this.banned = true;
        this.restrict({ reason: frame.reason });
        this.setComposer(false);
      } else if (frame.type === "timeout") {
        // Counted from the event's own clock, so a skewed local clock does not shift it.
        this.cooldownUntil = Date.now() + (frame.until - frame.ts) * 1000;
        this.restrict({ reason: frame.reason, seconds: frame.seconds, until: this.cooldownUntil });
        this.tick();
      } else {
        this.banned = false;
        this.cooldownUntil = 0;
        this.restrict(null);
        this.setComposer(true);
      }
    }
  }

  showError(frame) {
    let text = frame.message || frame.code;
    if (frame.retry_after) {
      this.cooldownUntil = Date.now() + frame.retry_after * 1000;
      text = frame.message;
    }
    if (frame.code === "banned") return this.restrict({ reason: frame.reason });
    if (frame.code === "timed_out") {
      return this.restrict({ reason: frame.reason, seconds: frame.seconds, until: this.cooldownUntil });
    }
    this.feedback.textContent = text;
    this.feedback.dataset.code = frame.code;
    return undefined;
  }

  /**
   * Tell this user why they cannot chat: `{reason}` for a ban, `{reason, seconds, until}`
   * (until in ms) for a timeout, whose time left tick() keeps current; `null` lifts it.
   */
  restrict(restriction) {
    this.restriction = restriction;
    if (!restriction) {
      if (["banned", "timed_out"].includes(this.feedback.dataset.code)) {
        this.feedback.textContent = "";
        delete this.feedback.dataset.code;
      }
      return;
    }
    const { reason, seconds, until } = restriction;
    const why = reason ? `: ${reason}` : "";
    if (until === undefined) {
      this.feedback.textContent = `You are banned from this chat${why}.`;
      this.feedback.dataset.code = "banned";
      return;
    }
    const length = seconds ? ` for ${describeSeconds(seconds)}` : "";
    // The alert is read out once; the countdown in it changes every second, silently.
    this.timeLeft = el("span", { class: "time-left", "aria-live": "off" });
    this.feedback.replaceChildren(`You are timed out${length} by a moderator${why}. `, this.timeLeft);
    this.feedback.dataset.code = "timed_out";
    this.showTimeLeft();
  }

  showTimeLeft() {
    const left = Math.max(0, Math.ceil((this.restriction.until - Date.now()) / 1000));
    this.timeLeft.textContent = `${formatDuration(left)} left.`;
  }

  tick() {
    const now = Date.now();
    if (this.restriction && this.restriction.until !== undefined) {
      if (this.restriction.until > now) this.showTimeLeft();
      else this.restrict(null);
    }
    const left = Math.ceil((this.cooldownUntil - now) / 1000);
    if (left > 0) {
      this.sendButton.disabled = true;
      this.sendButton.textContent = left > 60 ? `Wait ${formatDuration(left)}` : `Wait ${left} s`;
    } else if (this.sendButton.textContent !== "Chat") {
      this.sendButton.textContent = "Chat";
      this.sendButton.disabled = this.role === "viewer" || this.banned || !this.socket || this.socket.readyState !== WebSocket.OPEN;
      if (this.feedback.dataset.code && ["slow_mode", "rate_limited"].includes(this.feedback.dataset.code)) {
        this.feedback.textContent = "";
        delete this.feedback.dataset.code;
      }
    }
    for (const chip of this.ticker.querySelectorAll(".superchat-pin")) {
      if (Number(chip.dataset.until) * 1000 <= now) chip.remove();
    }
    this.ticker.hidden = !this.ticker.children.length;
  }

  // --- emote picker ------------------------------------------------------------------

  async togglePicker(open = this.picker.hidden) {
    if (!open) {
      if (this.picker.hidden) return;
      this.picker.hidden = true;
      this.emoteButton.setAttribute("aria-expanded", "false");
      if (this.picker.contains(document.activeElement)) this.emoteButton.focus();
      return;
    }
    this.picker.hidden = false;
    this.emoteButton.setAttribute("aria-expanded", "true");
    this.picker.replaceChildren(el("p", { class: "muted" }, "Loading…"));
    try {
      // Read on every opening: the owner may have added emotes since the page loaded.
      const emotes = await api(`/api/chat/${encodeURIComponent(this.channel)}/emotes`, { auth: false });
      if (!this.picker.hidden) this.showPicker(emotes); // unless closed meanwhile
    } catch (error) {
      this.picker.replaceChildren(el("p", { class: "form-error" }, error.message));
    }
  }

  showPicker({ channel, global }) {
    const group = (title, emotes) =>
      emotes.length
        ? el(
            "section",
            { class: "emote-group", "aria-label": title },
            el("h3", {}, title),
            el(
              "div",
              { class: "emote-grid" },
              emotes.map((emote) =>
                el(
                  "button",
                  {
                    type: "button",
                    class: "emote-choice",
                    title: ":" + emote.code + ":",
                    "aria-label": ":" + emote.code + ":",
                    dataset: { code: emote.code },
                  },
                  emoteNode(emote, { decorative: true }),
                ),
              ),
            ),
          )
        : null;
    this.picker.replaceChildren(group("This channel", channel), group("Everywhere", global));
    const first = this.picker.querySelector(".emote-choice");
    if (first) first.focus();
  }

  /** Arrow keys move between emotes, Escape closes; Tab and Enter work as on any button. */
  onPickerKey(event) {
    if (event.key === "Escape") {
      event.preventDefault();
      this.togglePicker(false);
      return;
    }
    const steps = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    if (!(event.key in steps)) return;
    const choices = [...this.picker.querySelectorAll(".emote-choice")];
    const at = choices.indexOf(document.activeElement);
    if (at < 0) return;
    event.preventDefault();
    choices[(at + steps[event.key] + choices.length) % choices.length].focus();
  }

  insertEmote(code) {
    const input = this.input;
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? start;
    const before = input.value.slice(0, start);
    const after = input.value.slice(end);
    // Codes are recognised only between colons, so keep them apart from the words around.
    const text = (before && !/\s$/.test(before) ? " " : "") + `:${code}:` + (/^\s/.test(after) ? "" : " ");
    input.value = (before + text + after).slice(0, Number(input.maxLength));
    this.togglePicker(false);
    input.focus();
    const caret = Math.min(before.length + text.length, input.value.length);
    input.setSelectionRange(caret, caret);
  }

  // --- sending -----------------------------------------------------------------------

  async sendMessage() {
    const text = this.input.value.trim();
    if (!text) return;
    this.feedback.textContent = "";
    delete this.feedback.dataset.code;
    try {
      await this.request({ type: "send", text });
      this.input.value = "";
    } catch (error) {
      this.showError(error);
    }
    this.input.focus();
  }

  toggleSuperForm(open = this.superForm.hidden) {
    this.superForm.hidden = !open;
    this.superButton.setAttribute("aria-expanded", String(open));
    if (open) {
      this.showBalance();
      this.amount.focus();
    }
  }

  async showBalance() {
    try {
      const { balances } = await api("/api/wallet");
      this.balances = balances;
      const currency = this.currency.value;
      this.balance.textContent = "Wallet: " + formatMoney(balances[currency] || 0, currency);
    } catch {
      this.balance.textContent = "";
    }
  }

  async topUp() {
    try {
      await api("/api/wallet/topups", { method: "POST", body: { amount: 2000, currency: this.currency.value } });
      this.feedback.textContent = "";
      await this.showBalance();
    } catch (error) {
      this.feedback.textContent =
        error.code === "payments_unavailable" ? "Top-ups are not available on this server." : error.message;
    }
  }

  async sendSuperChat() {
    const frame = { type: "superchat", amount: Number(this.amount.value), currency: this.currency.value };
    const text = this.superText.value.trim();
    if (text) frame.text = text;
    // One idempotency key per attempt: sending the same SuperChat again (after a dropped
    // connection or an error) reuses it, so the server pays it at most once; a changed
    // SuperChat is a new attempt with a new key.
    const attempt = JSON.stringify(frame);
    if (!this.superAttempt || this.superAttempt.frame !== attempt) {
      this.superAttempt = { frame: attempt, key: idempotencyKey() };
    }
    frame.idempotency_key = this.superAttempt.key;
    this.feedback.textContent = "";
    try {
      await this.request(frame);
      this.superAttempt = null;
      this.superText.value = "";
      this.toggleSuperForm(false);
    } catch (error) {
      if (error.code === "superchat_pending") {
        // Paid, and being posted by the server: ask again (same key) once it had time to.
        this.feedback.textContent = "Your SuperChat is paid and being posted…";
        setTimeout(() => this.sendSuperChat(), (error.retry_after || 1) * 1000);
        return;
      }
      this.feedback.textContent =
        error.code === "insufficient_funds" ? "Not enough in your wallet: top up first." : error.message;
    }
    this.showBalance();
  }

  // --- moderation --------------------------------------------------------------------

  isModerator() {
    return this.role === "moderator" || this.role === "owner";
  }

  modButton(frame) {
    const user = frame.user || {};
    return el(
      "button",
      {
        type: "button",
        class: "mod-button",
        "aria-haspopup": "menu",
        "aria-expanded": "false",
        "aria-label": `Moderate message from ${user.name}`,
        dataset: { message: frame.id, user: user.name },
      },
      "⋯",
    );
  }

  closeMenus() {
    for (const menu of this.root.querySelectorAll(".mod-menu")) menu.remove();
    for (const button of this.root.querySelectorAll(".mod-button[aria-expanded='true']")) {
      button.setAttribute("aria-expanded", "false");
    }
  }

  onListClick(event) {
    const button = event.target.closest(".mod-button");
    if (!button) return;
    event.stopPropagation();
    const open = button.getAttribute("aria-expanded") === "true";
    this.closeMenus();
    if (open) return;
    const messageId = Number(button.dataset.message);
    const user = button.dataset.user;
    const item = (label, action) =>
      el(
        "button",
        {
          type: "button",
          role: "menuitem",
          onclick: async () => {
            this.closeMenus();
            try {
              await action();
            } catch (error) {
              this.showError(error);
            }
          },
        },
        label,
      );
    const menu = el(
      "div",
      { class: "mod-menu", role: "menu", "aria-label": `Moderate ${user}` },
      item("Delete message", () => this.request({ type: "delete", message_id: messageId })),
      ...TIMEOUT_CHOICES.map(([seconds, label]) =>
        item(`Timeout ${user} ${label}`, () => this.request({ type: "timeout", user, seconds })),
      ),
      item(`Ban ${user}`, () => this.request({ type: "ban", user })),
    );
    button.setAttribute("aria-expanded", "true");
    button.after(menu);
    menu.querySelector("button").focus();
  }
}
