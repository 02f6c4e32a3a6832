// Vigil Models pages: a running fine-tuning job's progress, polled from the JSON API; confirmation of
// promote, rollback and cancel.
"use strict";

const JOB_POLL_MS = 1500;
const ACTIVE = new Set(["queued", "running"]);

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const two = (n) => String(Math.floor(n)).padStart(2, "0");
  if (seconds >= 3600) return `${Math.floor(seconds / 3600)} h ${two((seconds % 3600) / 60)} min`;
  if (seconds >= 60) return `${Math.floor(seconds / 60)} min ${two(seconds % 60)} s`;
  return `${Math.round(seconds)} s`;
}

function showProgress(job) {
  const field = (name) => document.querySelector(`[data-field=${name}]`);
  const progress = job.progress || {};
  const status = field("status");
  status.textContent = job.status;
  status.className = `badge job-${job.status}`;
  field("stage").textContent = progress.stage || "—";
  field("message").textContent = progress.message || "";
  const bar = field("bar");
  if (progress.total) {
    bar.max = progress.total;
    bar.value = progress.done || 0;
    field("done").textContent = `${progress.done || 0} of ${progress.total}`;
  } else {
    bar.removeAttribute("value");  // no total: an indeterminate bar
    field("done").textContent = "";
  }
  field("epoch").textContent = progress.epochs ? `${progress.epoch} of ${progress.epochs}` : "—";
  const losses = Object.entries(progress.losses || {}).map(([name, value]) => `${name} ${Number(value).toFixed(3)}`);
  field("losses").textContent = losses.length ? losses.join(" · ") : "—";
  field("eta").textContent = duration(progress.stage === "training" ? progress.eta_s : null);
}

async function refreshCurves(url) {
  const response = await fetch(url, { headers: { Accept: "text/html" } });
  if (!response.ok) return;
  // Our own server-rendered, escaped partial; parsed apart from the page, then moved in (scripts never run).
  const parsed = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = parsed.querySelector("[data-curves]");
  const current = document.querySelector("[data-curves]");
  if (fresh && current) current.replaceWith(document.adoptNode(fresh));
}

function followJob(section) {
  let epochsShown = Number(section.dataset.epochsShown);
  const timer = setInterval(async () => {
    let job;
    try {
      const response = await fetch(section.dataset.jobUrl, { headers: { Accept: "application/json" } });
      if (response.status === 401) { clearInterval(timer); return; }  // logged out: stop asking
      if (!response.ok) return;
      job = await response.json();
    } catch (error) {
      return;  // the dashboard may be restarting; the next tick tries again
    }
    showProgress(job);
    if (!ACTIVE.has(job.status)) {
      clearInterval(timer);
      window.location.reload();  // the finished page carries the evaluation and the gate's decision
      return;
    }
    const epochs = (job.progress.history || []).length;
    if (epochs !== epochsShown) {
      epochsShown = epochs;
      refreshCurves(section.dataset.curvesUrl).catch(() => {});
    }
  }, JOB_POLL_MS);
}

function confirmForms() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const section = document.querySelector("[data-job-url]");
  if (section) followJob(section);
  confirmForms();
});
