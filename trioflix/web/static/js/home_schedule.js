// Home: scheduled streams starting soon (the next day) across channels, and those live now.
import { api, el } from "./api.js";
import { scheduleItem } from "./schedule.js";

const REFRESH_MS = 60000;

async function load() {
  const list = document.getElementById("soon-list");
  try {
    const { entries } = await api("/api/schedule/soon", { auth: false });
    list.replaceChildren(
      ...(entries.length
        ? entries.map((e) => scheduleItem(e, { channelLink: true }))
        : [el("li", { class: "muted" }, "Nothing scheduled for the next day.")]),
    );
  } catch (error) {
    list.replaceChildren(el("li", { class: "form-error" }, "Could not load the schedule: " + error.message));
  }
}

if (document.getElementById("soon-list")) {
  load();
  setInterval(load, REFRESH_MS);
}
