// Scheduled streams as the pages show them: when, in the viewer's time and the streamer's
// zone, and how long until the start (the channel card ticks it every second).
import { el } from "./api.js";

/** "2 d 4 h", "1 h 05 min", "4 min 09 s", "12 s": the time until a start, `seconds` ahead. */
export function countdown(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const secs = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  if (days) return `${days} d ${hours} h`;
  if (hours) return `${hours} h ${two(minutes)} min`;
  if (minutes) return `${minutes} min ${two(secs)} s`;
  return `${secs} s`;
}

/** The start in the viewer's own time, e.g. "Mon 7 Dec, 20:00". */
export function localStart(entry) {
  return new Intl.DateTimeFormat(undefined, {
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
  }).format(new Date(entry.starts_at * 1000));
}

/** The start as the streamer gave it, when their zone is not the viewer's. */
export function streamerStart(entry) {
  const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (entry.time_zone === viewerZone) return "";
  const time = new Intl.DateTimeFormat(undefined, {
    hour: "2-digit",
    minute: "2-digit",
    timeZone: entry.time_zone,
  }).format(new Date(entry.starts_at * 1000));
  return `${time} ${entry.time_zone.replace(/_/g, " ")}`;
}

const STATE_WORDS = {
  scheduled: "Scheduled",
  live: "Live now",
  started: "Streamed",
  missed: "Did not happen",
  cancelled: "Cancelled",
};

export function stateWord(state) {
  return STATE_WORDS[state] || state;
}

/** How long it lasts: "1 h 30 min", "45 min". */
export function lasting(seconds) {
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.round((seconds % 3600) / 60);
  return [hours ? `${hours} h` : "", minutes ? `${minutes} min` : ""].filter(Boolean).join(" ");
}

/** One entry as a list item: when, the title, and its state unless it is still to come. */
export function scheduleItem(entry, { channelLink = false } = {}) {
  const other = streamerStart(entry);
  return el(
    "li",
    { class: `schedule-item state-${entry.state}`, dataset: { entry: String(entry.id) } },
    el(
      "time",
      { datetime: new Date(entry.starts_at * 1000).toISOString() },
      localStart(entry),
      other ? el("span", { class: "muted" }, ` (${other})`) : null,
    ),
    el(
      "span",
      { class: "schedule-title" },
      channelLink ? el("a", { href: `/channel/${entry.channel}` }, entry.title) : entry.title,
    ),
    channelLink ? el("span", { class: "muted" }, entry.display_name || entry.channel) : null,
    entry.state === "scheduled" ? null : el("span", { class: `badge schedule-state ${entry.state}` }, stateWord(entry.state)),
  );
}
