// The chat panel: the websocket protocol of docs/chat-protocol.md in a sidebar.
//
// Messages render the server's segments (text and emotes, never raw HTML); SuperChats
// show in their tier colour and, while pinned, in the ticker above the list; a
// moderator gets a menu on every message; refusals (slow mode, rate limits, bans) are
// shown with their countdown; a dropped connection reconnects with `since` so nothing
// is missed.
import { api, el, formatMoney, token } from "./api.js";

const CURRENCIES = ["USD", "EUR", "GBP", "CAD", "AUD", "CHF"];
const SUPERCHAT_PRESETS = [200, 500, 1000, 2000, 5000];
const MAX_MESSAGES = 300; // rendered; older ones scroll away
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 15000;
const FINAL_CLOSE_CODES = new Set([4401, 4404]);
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

function renderSegments(segments, fallback) {
  if (!segments) return [fallback || ""];
  return segments.map((segment) => {
    if (segment.type === "emote") {
      if (segment.url) {
        return el("img", {
          class: "emote",
          src: segment.url,
          alt: ":" + segment.code + ":",
          title: ":" + segment.code + ":",
          width: "28",
          height: "28",
        });
      }
      return el("span", { class: "emoji", role: "img", "aria-label": segment.code, title: ":" + segment.code + ":" }, segment.emoji);
    }
    return segment.text;
  });
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
    this.superButton = el(
      "button",
      { type: "button", class: "button superchat-toggle", "aria-expanded": "false", "aria-controls": "superchat-form" },
      "SuperChat",
    );
    this.form = el("form", { class: "chat-form", "aria-label": "Send a chat message" }, this.input, this.sendButton);
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
      el("div", { class: "chat-compose" }, this.feedback, this.signIn, this.form, this.superButton, this.superForm),
    );
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendMessage();
    });
    this.superButton.addEventListener("click", () => this.toggleSuperForm());
    this.list.addEventListener("click", (event) => this.onListClick(event));
    document.addEventListener("click", (event) => {
      if (!event.target.closest(".mod-menu, .mod-button")) this.closeMenus();
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
        return this.showModes();
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
    if (this.banned) this.feedback.textContent = "You are banned from this chat.";
    this.showModes();
    this.setComposer(frame.role !== "viewer" && !this.banned);
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
    else if (frame.type === "timeout") text = `${who} was timed out for ${frame.seconds} s by ${frame.by}`;
    else text = `${who} may chat again (${frame.by})`;
    if (frame.type !== "unban") {
      for (const node of this.list.querySelectorAll(`[data-user="${CSS.escape(who)}"]`)) node.classList.add("from-banned");
    }
    this.list.append(el("li", { class: "chat-system muted", dataset: { id: frame.id } }, text));
    if (this.user && frame.user && frame.user.id === this.user.id) {
      if (frame.type === "ban") {
        this.banned = true;
        this.feedback.textContent = "You were banned from this chat.";
        this.setComposer(false);
      } else if (frame.type === "timeout") {
        this.cooldownUntil = frame.until * 1000;
      } else {
        this.banned = false;
        this.cooldownUntil = 0;
        this.feedback.textContent = "";
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
    this.feedback.textContent = text;
    this.feedback.dataset.code = frame.code;
  }

  tick() {
    const now = Date.now();
    const left = Math.ceil((this.cooldownUntil - now) / 1000);
    if (left > 0) {
      this.sendButton.disabled = true;
      this.sendButton.textContent = `Wait ${left} s`;
    } else if (this.sendButton.textContent !== "Chat") {
      this.sendButton.textContent = "Chat";
      this.sendButton.disabled = this.role === "viewer" || this.banned || !this.socket || this.socket.readyState !== WebSocket.OPEN;
      if (this.feedback.dataset.code && ["slow_mode", "rate_limited", "timed_out"].includes(this.feedback.dataset.code)) {
        this.feedback.textContent = "";
        delete this.feedback.dataset.code;
      }
    }
    for (const chip of this.ticker.querySelectorAll(".superchat-pin")) {
      if (Number(chip.dataset.until) * 1000 <= now) chip.remove();
    }
    this.ticker.hidden = !this.ticker.children.length;
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
    this.feedback.textContent = "";
    try {
      await this.request(frame);
      this.superText.value = "";
      this.toggleSuperForm(false);
    } catch (error) {
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
