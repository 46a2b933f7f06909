// Studio: the chat settings of the signed-in user's own channel, through the chat API
// (docs/api.md, "Chat"): slow mode, emote-only mode and minimum account age; blocked
// terms; banned and timed-out users with Unban; moderators; channel emotes.
import { ApiError, api, currentUser, el, token } from "./api.js";
import { describeSeconds } from "./chat.js";

const BANS_POLL_MS = 15000; // timeouts run out and moderators ban from the chat meanwhile
const ACCOUNT_AGES = [0, 600, 3600, 86400, 7 * 86400, 30 * 86400];

const $ = (id) => document.getElementById(id);

class ChatSettings {
  constructor(channel) {
    this.base = `/api/chat/${encodeURIComponent(channel)}`;
    $("chat-modes").addEventListener("submit", (event) => {
      event.preventDefault();
      this.saveModes();
    });
    this.onSubmit("chat-term-form", "chat-terms-error", () => this.blockTerm());
    this.onSubmit("chat-ban-form", "chat-bans-error", () => this.ban());
    this.onSubmit("chat-moderator-form", "chat-moderators-error", () => this.addModerator());
    this.onSubmit("chat-emote-form", "chat-emotes-error", () => this.uploadEmote());
  }

  /** Run a form's action on submit; its failure is shown in the form's error line. */
  onSubmit(formId, errorId, action) {
    $(formId).addEventListener("submit", async (event) => {
      event.preventDefault();
      await this.attempt(errorId, action);
    });
  }

  async attempt(errorId, action) {
    $(errorId).textContent = "";
    try {
      await action();
    } catch (error) {
      $(errorId).textContent = error.message;
    }
  }

  load() {
    this.attempt("chat-modes-error", () => this.loadModes());
    this.attempt("chat-terms-error", () => this.loadTerms());
    this.attempt("chat-moderators-error", () => this.loadModerators());
    this.attempt("chat-emotes-error", () => this.loadEmotes());
    this.pollBans();
  }

  async pollBans() {
    await this.attempt("chat-bans-error", () => this.loadBans());
    setTimeout(() => this.pollBans(), BANS_POLL_MS);
  }

  // --- modes -------------------------------------------------------------------------

  async loadModes() {
    const { settings } = await api(this.base + "/settings");
    this.showModes(settings);
  }

  showModes(settings) {
    $("chat-slow-mode").value = String(settings.slow_mode_s);
    $("chat-emote-only").checked = settings.emote_only;
    const ages = ACCOUNT_AGES.includes(settings.min_account_age_s)
      ? ACCOUNT_AGES
      : [...ACCOUNT_AGES, settings.min_account_age_s].sort((a, b) => a - b);
    $("chat-min-age").replaceChildren(
      ...ages.map((seconds) => el("option", { value: String(seconds) }, seconds ? describeSeconds(seconds) : "Any")),
    );
    $("chat-min-age").value = String(settings.min_account_age_s);
  }

  async saveModes() {
    $("chat-modes-saved").textContent = "";
    await this.attempt("chat-modes-error", async () => {
      const { settings } = await api(this.base + "/settings", {
        method: "PATCH",
        body: {
          slow_mode_s: Number($("chat-slow-mode").value),
          emote_only: $("chat-emote-only").checked,
          min_account_age_s: Number($("chat-min-age").value),
        },
      });
      this.showModes(settings);
      $("chat-modes-saved").textContent = "Saved.";
    });
  }

  // --- blocked terms -----------------------------------------------------------------

  async loadTerms() {
    const { terms } = await api(this.base + "/blocked-terms");
    this.showTerms(terms);
  }

  showTerms(terms) {
    $("chat-terms").replaceChildren(
      ...(terms.length
        ? terms.map((term) =>
            el(
              "li",
              { class: "chip" },
              el("span", {}, term),
              this.button(`Unblock ${term}`, "×", "chat-terms-error", () => this.changeTerms({ remove: [term] })),
            ),
          )
        : [el("li", { class: "muted" }, "No blocked terms.")]),
    );
  }

  async changeTerms(change) {
    const { terms } = await api(this.base + "/blocked-terms", { method: "PATCH", body: change });
    this.showTerms(terms);
  }

  async blockTerm() {
    const term = $("chat-term").value.trim();
    if (!term) return;
    await this.changeTerms({ add: [term] });
    $("chat-term").value = "";
  }

  // --- bans --------------------------------------------------------------------------

  async loadBans() {
    const { bans } = await api(this.base + "/bans");
    $("chat-bans").replaceChildren(
      ...(bans.length
        ? bans.map((ban) =>
            el(
              "li",
              { class: "key-item", dataset: { user: ban.user } },
              el(
                "div",
                { class: "key-main" },
                el("strong", {}, ban.user),
                el(
                  "span",
                  { class: "muted" },
                  ban.until === null ? "Banned" : `Timed out until ${new Date(ban.until * 1000).toLocaleString()}`,
                  ban.moderator ? ` by ${ban.moderator}` : "",
                  ban.reason ? `: ${ban.reason}` : "",
                ),
              ),
              this.button(`Unban ${ban.user}`, "Unban", "chat-bans-error", async () => {
                await api(`${this.base}/bans/${encodeURIComponent(ban.user)}`, { method: "DELETE" });
                await this.loadBans();
              }),
            ),
          )
        : [el("li", { class: "muted" }, "Nobody is banned or timed out.")]),
    );
  }

  /** Ban, or time out for the chosen length. */
  async ban() {
    const user = $("chat-ban-user").value.trim();
    if (!user) return;
    const reason = $("chat-ban-reason").value.trim();
    const seconds = Number($("chat-ban-length").value);
    if (seconds) await api(this.base + "/timeouts", { method: "POST", body: { user, seconds, reason } });
    else await api(this.base + "/bans", { method: "POST", body: { user, reason } });
    $("chat-ban-form").reset();
    await this.loadBans();
  }

  // --- moderators --------------------------------------------------------------------

  async loadModerators() {
    const { moderators } = await api(this.base + "/moderators");
    this.showModerators(moderators);
  }

  showModerators(moderators) {
    $("chat-moderators").replaceChildren(
      ...(moderators.length
        ? moderators.map((name) =>
            el(
              "li",
              { class: "key-item", dataset: { user: name } },
              el("strong", {}, name),
              this.button(`Remove moderator ${name}`, "Remove", "chat-moderators-error", async () => {
                const body = await api(`${this.base}/moderators/${encodeURIComponent(name)}`, { method: "DELETE" });
                this.showModerators(body.moderators);
              }),
            ),
          )
        : [el("li", { class: "muted" }, "No moderators yet.")]),
    );
  }

  async addModerator() {
    const name = $("chat-moderator").value.trim();
    if (!name) return;
    const body = await api(`${this.base}/moderators/${encodeURIComponent(name)}`, { method: "PUT" });
    $("chat-moderator").value = "";
    this.showModerators(body.moderators);
  }

  // --- emotes ------------------------------------------------------------------------

  async loadEmotes() {
    const { channel } = await api(this.base + "/emotes");
    $("chat-emotes").replaceChildren(
      ...(channel.length
        ? channel.map((emote) =>
            el(
              "li",
              { class: "key-item", dataset: { code: emote.code } },
              el(
                "span",
                { class: "row nowrap" },
                el("img", { class: "emote", src: emote.url, alt: "", width: "28", height: "28" }),
                el("code", {}, `:${emote.code}:`),
              ),
              this.button(`Delete emote :${emote.code}:`, "Delete", "chat-emotes-error", async () => {
                await api(`${this.base}/emotes/${encodeURIComponent(emote.code)}`, { method: "DELETE" });
                await this.loadEmotes();
              }),
            ),
          )
        : [el("li", { class: "muted" }, "No channel emotes yet.")]),
    );
  }

  async uploadEmote() {
    const code = $("chat-emote-code").value.trim();
    const file = $("chat-emote-file").files[0];
    if (!code || !file) return;
    // The body is the image itself (not JSON), so this request bypasses api().
    const response = await fetch(`${this.base}/emotes/${encodeURIComponent(code)}`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${token()}`, "Content-Type": file.type || "application/octet-stream" },
      body: file,
    });
    if (!response.ok) {
      const data = await response.json().catch(() => null);
      const error = (data && data.error) || {};
      throw new ApiError(response.status, error.code, error.message || response.statusText, null);
    }
    $("chat-emote-form").reset();
    await this.loadEmotes();
  }

  button(label, text, errorId, action) {
    return el(
      "button",
      { type: "button", class: "button subtle", "aria-label": label, onclick: () => this.attempt(errorId, action) },
      text,
    );
  }
}

// Signed out, studio.js sends the visitor to sign in.
if (token() && currentUser()) new ChatSettings(currentUser().name).load();
