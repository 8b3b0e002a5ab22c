// The upload page: the form comes from /v1/settings (snf.settings.EncodeSettings, the same
// settings snf-encode's options are), the image goes to POST /v1/assets with
// publish_levels=true, and the job is followed until done. As soon as level 1 is published
// the viewer opens on the asset (an iframe of /view/ID, which follows a growing file), so
// the picture sharpens as later levels land. The server's one-line error is shown as is.
// State for tests: window.snfUpload.

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "snf-token";
const POLL_MS = 500;
const U = { job: null, asset: null, viewerOpened: null, error: null, states: [], started: null };
window.snfUpload = U;

function showError(text) {
  U.error = text;
  $("error").textContent = text;
}

async function detailOf(resp) {
  const text = await resp.text().catch(() => "");
  try {
    const d = JSON.parse(text).detail;
    return typeof d === "string" ? d : JSON.stringify(d);
  } catch {
    return text.slice(0, 200) || `the server answered ${resp.status}`;
  }
}

function tokenUi() {
  const have = !!sessionStorage.getItem(TOKEN_KEY);
  $("token-ask").hidden = have;
  $("token-have").hidden = !have;
}

/** One form control per setting, from the server's description of EncodeSettings. */
function control(f) {
  const row = document.createElement("div");
  row.className = "row";
  const id = `set-${f.name}`;
  const label = document.createElement("label");
  label.htmlFor = id;
  label.textContent = f.name.replace(/_/g, " ");
  let input;
  if (f.kind === "choice" || f.kind === "bool") {
    input = document.createElement("select");
    const values = f.kind === "bool" ? ["true", "false"] : f.choices;
    input.append(new Option(`default${f.default !== null && f.default !== undefined ? ` (${f.default})` : ""}`, ""));
    for (const v of values) input.append(new Option(v, v));
  } else {
    input = document.createElement("input");
    input.type = f.kind === "int" || f.kind === "float" ? "number" : "text";
    if (f.kind === "float") input.step = "any";
    if (f.min !== undefined) input.min = String(f.min);
    if (f.max !== undefined) input.max = String(f.max);
    input.placeholder = f.default === null || f.default === undefined ? "default" : `default: ${f.default}`;
  }
  input.id = id;
  input.name = f.name;
  input.dataset.setting = f.name;
  const help = document.createElement("span");
  help.className = "help";
  help.id = `${id}-help`;
  help.textContent = `${f.flag}: ${f.help}`;
  input.setAttribute("aria-describedby", help.id);
  row.append(label, input, help);
  return row;
}

async function buildForm() {
  const resp = await fetch("/v1/settings");
  if (!resp.ok) throw new Error(await detailOf(resp));
  const schema = await resp.json();
  for (const f of schema.fields) $(f.main ? "main-settings" : "more-settings").append(control(f));
  $("defaults-note").textContent = `${schema.defaults_note}. This server: uploads up to ${(schema.limits.max_upload_bytes / 2 ** 20).toFixed(0)} MiB, `
    + `${(schema.limits.max_pixels / 1e6).toFixed(0)} Mpx, ${schema.limits.max_steps} steps per level.`;
  if (!schema.writes) showError("This server is read-only (it was started without a token): uploads are refused.");
  U.schema = schema;
}

function formData() {
  const fd = new FormData();
  const file = $("file").files[0];
  if (file) fd.append("file", file, file.name);
  const id = $("asset-id").value.trim();
  if (id) fd.append("id", id);
  for (const el of document.querySelectorAll("[data-setting]")) {
    if (el.value.trim() !== "") fd.append(el.dataset.setting, el.value.trim());
  }
  if ($("replace").checked) fd.append("replace", "true");
  fd.append("publish_levels", "true");
  return fd;
}

async function submit(e) {
  e.preventDefault();
  showError("");
  const typed = $("token").value.trim();
  if (typed) sessionStorage.setItem(TOKEN_KEY, typed);
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return showError("Enter the server's token first.");
  if (!$("file").files.length) return showError("Choose or drop an image first.");
  $("go").disabled = true;
  try {
    const resp = await fetch("/v1/assets", { method: "POST", body: formData(), headers: { authorization: `Bearer ${token}` } });
    if (resp.status === 401) sessionStorage.removeItem(TOKEN_KEY);
    if (!resp.ok) {
      showError(await detailOf(resp));
      return;
    }
    $("token").value = "";
    tokenUi();
    follow(await resp.json());
  } catch (err) {
    showError(`cannot reach the server: ${err.message}`);
  } finally {
    $("go").disabled = false;
    tokenUi();
  }
}

function timeLeft(job) {
  const p = job.progress || 0;
  if (job.state !== "running" || !job.started || p < 0.02) return job.state === "queued" ? "waiting for a free encoder" : "time left: estimating…";
  const elapsed = Date.now() / 1000 - job.started;
  const left = (elapsed * (1 - p)) / p;
  return `time left: about ${left < 90 ? `${Math.round(left)} s` : `${Math.round(left / 60)} min`} (${Math.round(elapsed)} s so far)`;
}

/** Poll the job (and the asset, for its first published level) until it is done or failed. */
async function follow(job) {
  U.job = job;
  U.asset = job.asset_id;
  U.started = performance.now();
  $("job").hidden = false;
  $("job").scrollIntoView({ block: "start" });
  $("job-asset").textContent = job.asset_id;
  const a = encodeURIComponent(job.asset_id);
  $("view-link").href = `/view/${a}`;
  $("compare-link").href = `/compare/${a}`;
  for (;;) {
    const resp = await fetch(job.url, { cache: "no-store" });
    if (resp.ok) {
      job = await resp.json();
      U.job = job;
      if (U.states.at(-1) !== job.state) U.states.push(job.state);
      $("progress").value = job.progress || (job.state === "done" ? 1 : 0);
      $("job-state").textContent = `${job.state}${job.message ? `: ${job.message}` : ""}`;
      $("job-left").textContent = job.state === "done" || job.state === "failed" ? "" : timeLeft(job);
      if (job.state === "failed") {
        showError(job.error || "the encode failed");
        return;
      }
    }
    if (!U.viewerOpened) await maybeOpenViewer(a);
    if (job.state === "done") {
      $("progress").value = 1;
      if (!U.viewerOpened) await maybeOpenViewer(a);
      return;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function maybeOpenViewer(a) {
  const resp = await fetch(`/v1/assets/${a}`, { cache: "no-store" }).catch(() => null);
  if (!resp || !resp.ok) return;
  const m = await resp.json();
  if (!(m.levels_complete >= 1)) return;
  U.viewerOpened = performance.now() - U.started;
  $("links").hidden = false;
  $("viewer").src = `/view/${a}`;
  $("viewer").hidden = false;
}

function dropZone() {
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) {
      $("file").files = e.dataTransfer.files;
      $("file").dispatchEvent(new Event("change"));
    }
  });
  $("file").addEventListener("change", () => {
    const f = $("file").files[0];
    if (f && !$("asset-id").value) $("asset-id").placeholder = f.name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9._-]+/g, "-");
  });
}

async function main() {
  tokenUi();
  $("forget").onclick = () => { sessionStorage.removeItem(TOKEN_KEY); tokenUi(); $("token").focus(); };
  $("form").addEventListener("submit", submit);
  dropZone();
  try {
    await buildForm();
  } catch (e) {
    showError(`cannot load the settings: ${e.message}`);
  }
  U.ready = true;
}

main();
