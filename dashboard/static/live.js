// Vigil live page: keeps each tile's health badge current (streaming, reconnecting N, failed: error), reopens a
// stream that was refused (all stream slots in use) or cut, and goes to the login page once the session has ended.
"use strict";

const HEALTH_POLL_MS = 2000;
const RETRY_FIRST_MS = 5000;
const RETRY_MAX_MS = 60000;

function keepStreaming(img) {
  const source = img.getAttribute("src");
  let delay = RETRY_FIRST_MS;
  img.addEventListener("load", () => { delay = RETRY_FIRST_MS; });
  img.addEventListener("error", () => {
    setTimeout(() => { img.src = `${source}?retry=${Date.now()}`; }, delay);
    delay = Math.min(delay * 2, RETRY_MAX_MS);
  });
}

function badgeText(camera) {
  if (camera.state === "reconnecting") return `reconnecting ${camera.reconnects}`;
  if (camera.state === "failed" && camera.last_error) return `failed: ${camera.last_error}`;
  return camera.state;
}

async function refreshHealth(grid) {
  const response = await fetch(grid.dataset.camerasUrl, { headers: { Accept: "application/json" } });
  if (response.status === 401) {
    window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
    return;
  }
  if (!response.ok) return;
  const { running, cameras } = await response.json();
  if (!running) return;
  for (const camera of cameras) {
    const tile = grid.querySelector(`[data-camera="${CSS.escape(camera.camera)}"]`);
    if (!tile) continue;
    const badge = tile.querySelector("[data-health]");
    badge.textContent = badgeText(camera);  // textContent: an error message is shown, never run
    badge.className = `badge state-${camera.state}`;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const grid = document.querySelector("[data-cameras-url]");
  if (!grid) return;
  grid.querySelectorAll("img").forEach(keepStreaming);
  refreshHealth(grid).catch(() => {});
  setInterval(() => refreshHealth(grid).catch(() => {}), HEALTH_POLL_MS);
});
