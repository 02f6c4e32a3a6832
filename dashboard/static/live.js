// Vigil live page: keeps each tile's health badge current (streaming, reconnecting N, failed: error).
"use strict";

const HEALTH_POLL_MS = 2000;

function badgeText(camera) {
  if (camera.state === "reconnecting") return `reconnecting ${camera.reconnects}`;
  if (camera.state === "failed" && camera.last_error) return `failed: ${camera.last_error}`;
  return camera.state;
}

async function refreshHealth(grid) {
  const response = await fetch(grid.dataset.camerasUrl, { headers: { Accept: "application/json" } });
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
  refreshHealth(grid).catch(() => {});
  setInterval(() => refreshHealth(grid).catch(() => {}), HEALTH_POLL_MS);
});
