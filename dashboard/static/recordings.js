// Vigil recordings page: click the day's timeline to play from that moment. Footage comes in pieces of
// `data-play-s` seconds, each loaded when the one before ends, skipping the gaps the timeline shows.
"use strict";

const BUSY_RETRY_MS = 5000;

function isoSeconds(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function clockText(ms) {
  return `${new Date(ms).toISOString().slice(11, 19)}Z`;
}

function startPlayer(svg, video, status) {
  const dayStart = Date.parse(svg.dataset.dayStart);
  const dayMs = Number(svg.dataset.daySeconds) * 1000;
  const pieceMs = Number(svg.dataset.playS) * 1000;
  const width = svg.viewBox.baseVal.width;
  const playhead = svg.querySelector(".playhead");
  const spans = [...svg.querySelectorAll("rect.recorded")].map(
    (rect) => ({ start: Date.parse(rect.dataset.start), end: Date.parse(rect.dataset.end) }));
  let piece = null;

  function pieceFrom(ms) {
    // Within the day, a moment in a gap moves to the next recorded span and a piece stops where its span does
    // (so that playback skips gaps); past the day's last span the server says what it has.
    const span = ms >= dayStart && ms < dayStart + dayMs ? spans.find((s) => ms < s.end) : undefined;
    const from = span ? Math.max(ms, span.start) : ms;
    return { from, to: span ? Math.min(from + pieceMs, span.end) : from + pieceMs };
  }

  function play(from) {
    piece = pieceFrom(from);
    const query = new URLSearchParams({ from: isoSeconds(piece.from), to: isoSeconds(piece.to) });
    video.src = `${svg.dataset.footageUrl}?${query}`;
    status.textContent = `Playing ${isoSeconds(piece.from)} to ${clockText(piece.to)} (UTC)`;
    video.play().catch(() => {});  // autoplay may be refused: the controls still start it
  }

  async function explainFailure() {
    const failed = piece;
    const response = await fetch(video.src, { method: "HEAD" });
    if (failed !== piece) return;
    if (response.status === 401 || response.redirected) {
      window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
    } else if (response.status === 503) {
      status.textContent = "The server is busy assembling other footage: trying again in a few seconds…";
      setTimeout(() => { if (failed === piece) play(failed.from); }, BUSY_RETRY_MS);
    } else if (response.status === 404) {
      status.textContent = `Nothing recorded from ${isoSeconds(failed.from)} to ${clockText(failed.to)}.`;
    } else {
      status.textContent = `The footage from ${isoSeconds(failed.from)} could not be played (${response.status}).`;
    }
  }

  video.addEventListener("ended", () => { if (piece) play(piece.to); });
  video.addEventListener("error", () => { if (piece) explainFailure().catch(() => {}); });
  video.addEventListener("timeupdate", () => {
    if (!piece) return;
    const x = ((piece.from + video.currentTime * 1000 - dayStart) / dayMs) * width;
    playhead.setAttribute("x1", String(x));
    playhead.setAttribute("x2", String(x));
    playhead.classList.toggle("shown", x >= 0 && x <= width);
  });
  svg.addEventListener("click", (event) => {
    if (event.target.closest("a")) return;  // an alert marker: its link opens the alert
    const box = svg.getBoundingClientRect();
    play(dayStart + Math.round(((event.clientX - box.left) / box.width) * dayMs / 1000) * 1000);
  });
  if (svg.dataset.at) play(Date.parse(svg.dataset.at));
}

document.addEventListener("DOMContentLoaded", () => {
  const svg = document.querySelector("svg[data-footage-url]");
  if (svg) startPlayer(svg, document.querySelector("[data-player]"), document.querySelector("[data-playing]"));
});
