// Channel page: the next scheduled stream with a live countdown, the rest of the week,
// and the calendar feed to subscribe to (docs/web.md).
import { api, el } from "./api.js";
import { countdown, lasting, localStart, scheduleItem, streamerStart } from "./schedule.js";

const REFRESH_MS = 60000; // the schedule changes rarely; the countdown ticks locally
const TICK_MS = 1000;
const WEEK_S = 7 * 86400;

const section = document.getElementById("channel-schedule");
const channel = document.body.dataset.channel;
let ticking = null;

function nextCard(entry) {
  const live = entry.state === "live";
  const clock = el("strong", { class: "countdown", id: "schedule-countdown", role: "timer" });
  const tick = () => {
    const left = entry.starts_at - Date.now() / 1000;
    clock.textContent = live ? "Live now" : left > 0 ? `Starts in ${countdown(left)}` : "Starting now";
  };
  tick();
  clearInterval(ticking);
  if (!live) ticking = setInterval(tick, TICK_MS);
  const other = streamerStart(entry);
  return el(
    "div",
    { class: "card schedule-next", id: "schedule-next", dataset: { entry: String(entry.id) } },
    entry.cover_url ? el("img", { class: "schedule-cover", src: entry.cover_url, alt: "" }) : null,
    el(
      "div",
      { class: "stack" },
      el("span", { class: "muted" }, live ? "Scheduled stream" : "Next stream"),
      el("h3", { class: "schedule-next-title" }, entry.title),
      clock,
      el(
        "span",
        { class: "muted" },
        localStart(entry),
        other ? ` (${other})` : "",
        ` · ${lasting(entry.duration_s)}`,
      ),
      entry.description ? el("p", { class: "description" }, entry.description) : null,
    ),
  );
}

async function load() {
  try {
    const { entries } = await api(`/api/channels/${encodeURIComponent(channel)}/schedule`, { auth: false });
    const now = Date.now() / 1000;
    const coming = entries.filter(
      (e) => (e.state === "scheduled" && e.ends_at > now) || e.state === "live",
    );
    const [next, ...rest] = coming;
    const week = rest.filter((e) => e.starts_at < now + WEEK_S);
    const feed = `/channels/${encodeURIComponent(channel)}/schedule.ics`;
    section.replaceChildren(
      el("h2", { class: "section-title", id: "channel-schedule-heading" }, "Schedule"),
      next ? nextCard(next) : el("p", { class: "muted" }, "No stream scheduled."),
      week.length
        ? el("ul", { class: "schedule-list", id: "schedule-week", "aria-label": "This week" }, week.map((e) => scheduleItem(e)))
        : null,
      el(
        "p",
        { class: "muted" },
        el("a", { href: `webcal://${location.host}${feed}`, id: "schedule-subscribe" }, "Subscribe in your calendar"),
        " · ",
        el("a", { href: feed }, "iCalendar file"),
      ),
    );
    if (!next) clearInterval(ticking);
  } catch (error) {
    section.replaceChildren(el("p", { class: "form-error" }, "Could not load the schedule: " + error.message));
  }
}

if (section && channel) {
  load();
  setInterval(load, REFRESH_MS);
}
