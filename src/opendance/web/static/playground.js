// The API playground: keeps the JSON body, the curl command and the price in sync with the form,
// submits through the public API with the chosen key, polls the status and plays the video.
"use strict";

(() => {
  const config = JSON.parse(document.getElementById("playground-config").textContent);
  const $ = (id) => document.getElementById(id);
  const form = $("playground-form");
  const prompt = $("prompt");
  const fields = ["aspect_ratio", "resolution", "duration", "generate_audio", "fixed_lens",
    "image_url", "callback_url", "seed"];
  const POLL_MS = 1000;
  let inlineImage = null; // {dataUrl, bytes, type} of an uploaded file
  let polling = null;

  function imageMode() {
    return form.querySelector("input[name=image_mode]:checked").value;
  }

  function keyMode() {
    const checked = form.querySelector("input[name=key_mode]:checked");
    return checked ? checked.value : "paste";
  }

  // The request body as the form says; `display` abbreviates an inline image.
  function body(display) {
    const data = {
      prompt: prompt.value,
      aspect_ratio: $("aspect_ratio").value,
      resolution: $("resolution").value,
      duration: $("duration").value,
    };
    if ($("generate_audio").checked) data.generate_audio = true;
    if ($("fixed_lens").checked) data.fixed_lens = true;
    const mode = imageMode();
    if (mode === "url" && $("image_url").value.trim()) {
      data.image_urls = [$("image_url").value.trim()];
    } else if (mode === "file" && inlineImage) {
      data.image_urls = [display
        ? `data:${inlineImage.type};base64,<${inlineImage.bytes} bytes>`
        : inlineImage.dataUrl];
    }
    if ($("callback_url").value.trim()) data.callback_url = $("callback_url").value.trim();
    const seed = $("seed").value.trim();
    if (seed !== "") data.seed = /^\d+$/.test(seed) ? Number(seed) : seed;
    return data;
  }

  function shellQuote(text) {
    return "'" + text.replace(/'/g, "'\\''") + "'";
  }

  function curl(data) {
    return [
      `curl -X POST ${shellQuote(config.baseUrl + "/v1/generate")}`,
      `  -H "Authorization: Bearer $OPENDANCE_API_KEY"`,
      `  -H 'Content-Type: application/json'`,
      `  -d ${shellQuote(JSON.stringify(data, null, 2))}`,
    ].join(" \\\n");
  }

  function price() {
    const key = `${$("resolution").value}|${$("duration").value}|${$("generate_audio").checked ? 1 : 0}`;
    return config.prices[key];
  }

  function sync() {
    const count = [...prompt.value.trim()].length;
    const counter = $("prompt-count");
    counter.textContent = `${count} / ${config.promptLimit}`;
    counter.classList.toggle("over", count > config.promptLimit || count === 0);
    const credits = price();
    $("price").textContent = credits;
    $("price-usd").textContent = `($${(credits * config.usdPerCredit).toFixed(2)})`;
    $("generate").textContent = `Generate · ${credits} credits`;
    $("json-body").textContent = JSON.stringify(body(true), null, 2);
    $("json-full").value = JSON.stringify(body(false), null, 2);
    $("curl").textContent = curl(body(true));
    $("curl-full").value = curl(body(false));
    $("image-url-field").hidden = imageMode() !== "url";
    $("image-file-field").hidden = imageMode() !== "file";
    $("paste-field").hidden = keyMode() !== "paste";
  }

  function apiKey() {
    return keyMode() === "session" ? $("session-key").value : $("api-key").value.trim();
  }

  // One exchange with the API, shown exactly as it answered (status line and raw body).
  function logExchange(method, url, status, text) {
    const item = document.createElement("li");
    const head = document.createElement("div");
    head.className = "log-head";
    const code = document.createElement("span");
    code.className = "http " + (status >= 200 && status < 300 ? "ok" : "bad");
    code.textContent = status ? `HTTP ${status}` : "no answer";
    const what = document.createElement("span");
    what.className = "mono small";
    what.textContent = `${method} ${url}`;
    head.append(code, what);
    const pre = document.createElement("pre");
    pre.className = "code";
    pre.tabIndex = 0;
    pre.textContent = text;
    item.append(head, pre);
    return item;
  }

  function showState(html) {
    $("task-state").replaceChildren(...html);
  }

  function text(tag, content, className) {
    const node = document.createElement(tag);
    node.textContent = content;
    if (className) node.className = className;
    return node;
  }

  async function call(method, path, payload) {
    const init = { method, headers: { Authorization: `Bearer ${apiKey()}` } };
    if (payload !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      return { status: 0, raw: String(error), json: null };
    }
    const raw = await response.text();
    let json = null;
    try { json = JSON.parse(raw); } catch (_) { /* shown raw */ }
    return { status: response.status, raw, json };
  }

  async function submit(event) {
    event.preventDefault();
    const error = $("form-error");
    error.hidden = true;
    if (!apiKey()) {
      error.textContent = "Paste an API key first (or sign in to use the session's key).";
      error.hidden = false;
      $("api-key").focus();
      return;
    }
    if (polling) clearTimeout(polling);
    const log = $("log");
    log.replaceChildren();
    $("video").hidden = true;
    $("video").removeAttribute("src");
    $("task-link").hidden = true;
    $("task-progress").hidden = true;
    const button = $("generate");
    button.disabled = true;
    showState([text("p", "Sending…", "muted")]);
    const answer = await call("POST", "/v1/generate", body(false));
    log.append(logExchange("POST", "/v1/generate", answer.status, answer.raw));
    button.disabled = false;
    if (answer.status !== 200 || !answer.json || !answer.json.data) {
      const message = answer.json && answer.json.message ? answer.json.message : answer.raw;
      const code = answer.json && answer.json.error ? `${answer.json.error}: ` : "";
      showState([text("p", `${code}${message}`, "error")]);
      return;
    }
    poll(answer.json.data.task_id, null);
  }

  async function poll(taskId, statusItem) {
    const path = `/v1/status?task_id=${encodeURIComponent(taskId)}`;
    const answer = await call("GET", path);
    const item = logExchange("GET", path, answer.status, answer.raw);
    if (statusItem) statusItem.replaceWith(item); else $("log").append(item);
    const data = answer.json && answer.json.data;
    if (answer.status !== 200 || !data) {
      showState([text("p", answer.json ? answer.json.message : answer.raw, "error")]);
      return;
    }
    const bar = $("task-progress");
    const link = $("task-link");
    link.replaceChildren(text("span", "Task "), Object.assign(document.createElement("a"), {
      href: `/dashboard/tasks/${encodeURIComponent(taskId)}`, textContent: taskId, className: "mono",
    }));
    link.hidden = false;
    if (data.status === "IN_PROGRESS") {
      bar.hidden = false;
      bar.value = data.progress || 0;
      showState([text("span", "in progress", "status in-progress"),
        text("span", ` ${data.progress || 0} %`, "muted")]);
      polling = setTimeout(() => poll(taskId, item), POLL_MS);
      return;
    }
    bar.hidden = true;
    if (data.status === "SUCCESS") {
      showState([text("span", "success", "status success"),
        text("span", ` ${data.consumed_credits} credits`, "muted")]);
      const video = $("video");
      if (data.poster_url) video.poster = data.poster_url;
      video.src = data.response[0];
      video.hidden = false;
    } else {
      showState([text("span", "failed", "status failed"),
        text("p", data.error_message || "", "error")]);
    }
  }

  $("image_file").addEventListener("change", () => {
    const file = $("image_file").files[0];
    inlineImage = null;
    if (!file) { sync(); return; }
    const reader = new FileReader();
    reader.onload = () => {
      inlineImage = { dataUrl: reader.result, bytes: file.size, type: file.type || "image/png" };
      sync();
    };
    reader.readAsDataURL(file);
  });

  // tabs: arrow keys move between them, as the ARIA tabs pattern has it
  const tabs = [...document.querySelectorAll("[role=tab]")];
  function select(tab) {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      $(other.getAttribute("aria-controls")).hidden = !selected;
    }
    tab.focus();
  }
  tabs.forEach((tab, index) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      if (event.key === "ArrowRight") select(tabs[(index + 1) % tabs.length]);
      if (event.key === "ArrowLeft") select(tabs[(index + tabs.length - 1) % tabs.length]);
    });
  });

  form.addEventListener("input", sync);
  form.addEventListener("change", sync);
  form.addEventListener("submit", submit);
  for (const name of fields) $(name).addEventListener("input", sync);
  sync();
})();
