// Small enhancements shared by every page: copy buttons, secret reveal, confirmations.
"use strict";

function copyText(text, button) {
  const done = () => {
    const label = button.textContent;
    button.textContent = "Copied";
    button.classList.add("done");
    setTimeout(() => { button.textContent = label; button.classList.remove("done"); }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => fallbackCopy(text, done));
  } else {
    fallbackCopy(text, done);
  }
}

// Plain http on another host than localhost is not a secure context: no Clipboard API there.
function fallbackCopy(text, done) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  try { document.execCommand("copy"); done(); } finally { area.remove(); }
}

document.addEventListener("click", (event) => {
  const copy = event.target.closest("[data-copy]");
  if (copy) {
    const source = document.querySelector(copy.dataset.copy);
    if (source) copyText(source.value !== undefined ? source.value : source.textContent, copy);
    return;
  }
  const reveal = event.target.closest("[data-reveal]");
  if (reveal) {
    const field = document.querySelector(reveal.dataset.reveal);
    const shown = field.type === "password";
    field.type = shown ? "text" : "password";
    reveal.textContent = shown ? "Hide" : "Reveal";
    reveal.setAttribute("aria-pressed", String(shown));
  }
});

document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
