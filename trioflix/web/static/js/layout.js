// Every page: the account corner of the header (signed-in name, sign out).
import { currentUser, el, logout, token } from "./api.js";

function renderAccount() {
  const box = document.getElementById("account");
  const user = currentUser();
  if (!box) return;
  if (!token() || !user) {
    box.replaceChildren(el("a", { class: "button", href: "/login", id: "login-link" }, "Sign in"));
    return;
  }
  box.replaceChildren(
    el("a", { class: "account-name", href: "/channel/" + user.name }, user.display_name || user.name),
    el(
      "button",
      {
        type: "button",
        class: "button subtle",
        id: "logout",
        onclick: () => {
          logout();
          location.assign("/");
        },
      },
      "Sign out",
    ),
  );
}

// Mark the current section in the navigation.
for (const link of document.querySelectorAll(".site-nav a")) {
  if (link.getAttribute("href") === location.pathname) link.setAttribute("aria-current", "page");
}
renderAccount();
window.addEventListener("storage", renderAccount);
