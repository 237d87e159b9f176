// The API playground: keeps the price and the request in every dialect (curl for the Seedance,
// OpenAI and Ark APIs, Python for our SDK and the openai SDK, the JSON body) in sync with the
// form, submits through the public API with the chosen key, polls the status and plays the video.
"use strict";

(() => {
  const config = JSON.parse(document.getElementById("playground-config").textContent);
  const $ = (id) => document.getElementById(id);
  const form = $("playground-form");
  const prompt = $("prompt");
  const fields = ["aspect_ratio", "resolution", "duration", "generate_audio", "fixed_lens",
    "image_url", "callback_url", "seed"];
  const POLL_MS = 1000;
  let inlineImage = null; // {dataUrl, bytes, type, name} of an uploaded file
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
    const frame = firstFrame(display);
    if (frame) data.image_urls = [frame.url];
    if ($("callback_url").value.trim()) data.callback_url = $("callback_url").value.trim();
    const seed = seedValue();
    if (seed !== null) data.seed = seed;
    return data;
  }

  function shellQuote(text) {
    return "'" + text.replace(/'/g, "'\\''") + "'";
  }

  // The seed as typed: a number when it is one, else the text (the server says what is wrong).
  function seedValue() {
    const seed = $("seed").value.trim();
    if (seed === "") return null;
    return /^\d+$/.test(seed) ? Number(seed) : seed;
  }

  // The first frame the form gives: {url} (an image URL, or an uploaded file's data URL,
  // abbreviated when `display`) and, for an upload, `uploaded` and the file's name.
  function firstFrame(display) {
    const mode = imageMode();
    if (mode === "url" && $("image_url").value.trim()) return { url: $("image_url").value.trim() };
    if (mode === "file" && inlineImage) {
      const url = display
        ? `data:${inlineImage.type};base64,<${inlineImage.bytes} bytes>`
        : inlineImage.dataUrl;
      return { url, name: inlineImage.name, uploaded: true };
    }
    return null;
  }

  function curl(data) {
    return [
      `curl -X POST ${shellQuote(config.baseUrl + "/v1/generate")}`,
      `  -H "Authorization: Bearer $OPENDANCE_API_KEY"`,
      `  -H 'Content-Type: application/json'`,
      `  -d ${shellQuote(JSON.stringify(data, null, 2))}`,
    ].join(" \\\n");
  }

  // --- the OpenAI Videos API: multipart form fields, as the openai SDK sends them ----------

  function openaiSize() {
    return config.openaiSizes[`${$("aspect_ratio").value}|${$("resolution").value}`];
  }

  // The extras beyond OpenAI's own fields (the SDK's extra_body), only those set.
  function openaiExtras() {
    const extras = {};
    if ($("generate_audio").checked) extras.generate_audio = true;
    if ($("fixed_lens").checked) extras.fixed_lens = true;
    const seed = seedValue();
    if (seed !== null) extras.seed = seed;
    if ($("callback_url").value.trim()) extras.callback_url = $("callback_url").value.trim();
    return extras;
  }

  function curlOpenAI() {
    // --form-string for free text: curl reads a file for a -F value starting with @ or <
    const lines = [
      `curl -X POST ${shellQuote(config.baseUrl + "/v1/videos")}`,
      `  -H "Authorization: Bearer $OPENDANCE_API_KEY"`,
      `  -F ${shellQuote("model=" + config.models.openai)}`,
      `  --form-string ${shellQuote("prompt=" + prompt.value)}`,
      `  -F ${shellQuote("size=" + openaiSize())}`,
      `  -F ${shellQuote("seconds=" + $("duration").value)}`,
    ];
    for (const [name, value] of Object.entries(openaiExtras())) {
      const option = name === "callback_url" ? "--form-string" : "-F";
      lines.push(`  ${option} ${shellQuote(`${name}=${value}`)}`);
    }
    // the first frame: an uploaded file, or a reference to an image URL
    const frame = firstFrame(true);
    if (frame && frame.uploaded) {
      lines.push(`  -F ${shellQuote("input_reference=@" + curlFileName(frame.name))}`);
    } else if (frame) {
      lines.push(`  --form-string ${shellQuote("input_reference[image_url]=" + frame.url)}`);
    }
    return lines.join(" \\\n");
  }

  // A file name as curl's -F reads it: quoted where it holds its separators.
  function curlFileName(name) {
    return /[;,"\\]/.test(name) ? `"${name.replace(/["\\]/g, "\\$&")}"` : name;
  }

  function openaiFrameNote() {
    const frame = firstFrame(true);
    return frame && frame.uploaded
      ? `input_reference is ${frame.name}, the file you picked, read from your disk.` : "";
  }

  // --- the Ark task API: the prompt and the first frame in content ---------------------------

  function arkBody(display) {
    const content = [{ type: "text", text: prompt.value }];
    const frame = firstFrame(display);
    if (frame) content.push({ type: "image_url", image_url: { url: frame.url }, role: "first_frame" });
    const data = {
      model: config.models.ark,
      content,
      resolution: $("resolution").value,
      ratio: $("aspect_ratio").value,
      duration: Number($("duration").value),
    };
    if ($("generate_audio").checked) data.generate_audio = true;
    if ($("fixed_lens").checked) data.camera_fixed = true;
    const seed = seedValue();
    if (seed !== null) data.seed = seed;
    if ($("callback_url").value.trim()) data.callback_url = $("callback_url").value.trim();
    return data;
  }

  function curlArk(display) {
    return [
      `curl -X POST ${shellQuote(config.baseUrl + "/api/v3/contents/generations/tasks")}`,
      `  -H "Authorization: Bearer $OPENDANCE_API_KEY"`,
      `  -H 'Content-Type: application/json'`,
      `  -d ${shellQuote(JSON.stringify(arkBody(display), null, 2))}`,
    ].join(" \\\n");
  }

  // --- Python ------------------------------------------------------------------------------

  // A value as a Python literal (JSON's string escapes are Python's too).
  function py(value) {
    if (value === true) return "True";
    if (value === false) return "False";
    if (value === null || value === undefined) return "None";
    if (Array.isArray(value)) return `[${value.map(py).join(", ")}]`;
    if (typeof value === "object") {
      return `{${Object.entries(value).map(([k, v]) => `${py(k)}: ${py(v)}`).join(", ")}}`;
    }
    return JSON.stringify(value);
  }

  function pythonOpendance() {
    const args = [
      py(prompt.value),
      `aspect_ratio=${py($("aspect_ratio").value)}`,
      `resolution=${py($("resolution").value)}`,
      `duration=${Number($("duration").value)}`,
    ];
    if ($("generate_audio").checked) args.push("generate_audio=True");
    if ($("fixed_lens").checked) args.push("fixed_lens=True");
    const frame = firstFrame(true);
    if (frame && frame.uploaded) args.push(`image=${py(frame.name)}`); // a local file, sent inline
    else if (frame) args.push(`image_urls=[${py(frame.url)}]`);
    if ($("callback_url").value.trim()) args.push(`callback_url=${py($("callback_url").value.trim())}`);
    const seed = seedValue();
    if (seed !== null) args.push(`seed=${py(seed)}`);
    return [
      "from opendance.client import Client",
      "",
      "# the key comes from $OPENDANCE_API_KEY (or pass api_key=...)",
      `with Client(${py(config.baseUrl)}) as client:`,
      "    task = client.generate_and_wait(",
      ...args.map((arg) => `        ${arg},`),
      "    )",
      "    if task.succeeded:",
      '        client.download(task.task_id, "video.mp4")',
      "    else:",
      "        print(task.error_message)",
    ].join("\n");
  }

  function pythonOpenAI() {
    const args = [
      `model=${py(config.models.openai)}`,
      `prompt=${py(prompt.value)}`,
      `size=${py(openaiSize())}`,
      `seconds=${py($("duration").value)}`,
    ];
    const frame = firstFrame(true);
    if (frame && frame.uploaded) args.push(`input_reference=open(${py(frame.name)}, "rb")`);
    else if (frame) args.push(`input_reference=${py({ image_url: frame.url })}`);
    const extras = openaiExtras();
    if (Object.keys(extras).length) args.push(`extra_body=${py(extras)}`);
    return [
      "import os",
      "import time",
      "",
      "from openai import OpenAI",
      "",
      "client = OpenAI(",
      `    base_url=${py(config.baseUrl + "/v1")},`,
      '    api_key=os.environ["OPENDANCE_API_KEY"],',
      ")",
      "video = client.videos.create(",
      ...args.map((arg) => `    ${arg},`),
      ")",
      'while video.status in ("queued", "in_progress"):',
      "    time.sleep(2)",
      "    video = client.videos.retrieve(video.id)",
      'if video.status == "completed":',
      '    client.videos.download_content(video.id).write_to_file("video.mp4")',
      "else:",
      "    print(video.error)",
    ].join("\n");
  }

  // Each tab's text: as shown (an inline image abbreviated) and in full (for copying).
  const snippets = {
    "curl": (display) => curl(body(display)),
    "curl-openai": () => curlOpenAI(),
    "curl-ark": (display) => curlArk(display),
    "python-opendance": () => pythonOpendance(),
    "python-openai": () => pythonOpenAI(),
    "json-body": (display) => JSON.stringify(body(display), null, 2),
  };
  const notes = { "curl-openai": openaiFrameNote, "python-openai": openaiFrameNote };

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
    for (const [id, write] of Object.entries(snippets)) {
      $(id).textContent = write(true);
      $(`${id}-full`).value = write(false);
      const note = notes[id] ? notes[id]() : "";
      $(`${id}-note`).textContent = note;
      $(`${id}-note`).hidden = !note;
    }
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
      inlineImage = {
        dataUrl: reader.result, bytes: file.size, type: file.type || "image/png", name: file.name,
      };
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
