// Vigil dashboard: the live count of new alerts in the header, and "select all" for bulk acknowledge.
"use strict";

const NEW_COUNT_POLL_MS = 5000;

function pollNewAlertCount() {
  const link = document.querySelector("[data-count-url]");
  if (!link) return;
  const number = link.querySelector("[data-count]");
  const timer = setInterval(async () => {
    try {
      const response = await fetch(link.dataset.countUrl, { headers: { Accept: "application/json" } });
      if (response.status === 401) { clearInterval(timer); return; }  // logged out: stop asking
      if (!response.ok) return;
      const { count } = await response.json();
      number.textContent = String(count);
      link.classList.toggle("has-new", count > 0);
    } catch (error) {
      // The dashboard may be restarting; the next tick tries again.
    }
  }, NEW_COUNT_POLL_MS);
}

function enableSelectAll() {
  for (const box of document.querySelectorAll("[data-select-all]")) {
    box.addEventListener("change", () => {
      for (const item of box.form.querySelectorAll("input[name=ids]")) item.checked = box.checked;
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  pollNewAlertCount();
  enableSelectAll();
});
