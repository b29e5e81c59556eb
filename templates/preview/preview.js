// cardsmith preview: search, night mode, phone view, and the cards fetched again after each build.
"use strict";

// MathJax as Anki's reviewer configures it: \(...\) inline, \[...\] display, no menu.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: false,
    processEnvironments: false,
    processRefs: false,
  },
  chtml: { fontURL: "/mathjax" },
  options: { renderActions: { addMenu: [] } },
  startup: {
    typeset: false,
    ready() {
      MathJax.startup.defaultReady();
      typesetCards();
    },
  },
};

// The cards in view, typeset again; MathJax's own queue keeps typesets in order.
function typesetCards() {
  const mj = window.MathJax;
  if (!mj || !mj.startup || !mj.startup.promise) return; // not loaded yet: ready() calls this
  const cards = document.getElementById("cards");
  const build = document.body.dataset.build;
  mj.startup.promise = mj.startup.promise
    .then(() => {
      mj.typesetClear([cards]);
      return mj.typesetPromise([cards]);
    })
    .catch((error) => console.error("MathJax:", error))
    .then(() => {
      if (build !== undefined) document.body.dataset.typeset = build;
    });
}

(function () {
  const params = new URLSearchParams(location.search);
  let shown = null; // the build whose cards are in the page

  function cards() {
    return document.getElementById("cards");
  }

  function query() {
    const box = document.getElementById("pv-search");
    return (box ? box.value : params.get("q") || "").trim().toLowerCase();
  }

  function filter() {
    const q = query();
    let shown = 0;
    const all = cards().querySelectorAll(".pv-card");
    for (const card of all) {
      const hit = !q || card.dataset.search.includes(q);
      card.classList.toggle("pv-hidden", !hit);
      if (hit) shown += 1;
    }
    const count = document.getElementById("pv-count");
    if (count) count.textContent = q ? `${shown} / ${all.length}` : `${all.length}`;
  }

  function night(on) {
    // Anki adds nightMode (and night_mode, for old AnkiDroid templates) to the page.
    document.body.classList.toggle("nightMode", on);
    document.body.classList.toggle("night_mode", on);
  }

  function phone() {
    const frame = document.getElementById("pv-phone");
    const box = document.getElementById("pv-phone-view");
    const on = Boolean(box && box.checked);
    if (on) {
      const night = document.getElementById("pv-night").checked ? "1" : "";
      const src = `/?embed=1&night=${night}&q=${encodeURIComponent(query())}`;
      if (frame.getAttribute("src") !== src) frame.setAttribute("src", src);
    }
    frame.hidden = !on;
    cards().hidden = on;
  }

  async function load(build) {
    const response = await fetch("/cards", { cache: "no-store" });
    if (!response.ok) throw new Error(`cards: ${response.status}`);
    const html = await response.text();
    const y = window.scrollY;
    cards().innerHTML = html;
    filter();
    window.scrollTo(0, y);
    shown = build;
    document.body.dataset.build = String(build);
    typesetCards();
  }

  async function poll() {
    try {
      const response = await fetch("/build", { cache: "no-store" });
      const state = await response.json();
      if (state.build !== shown) await load(state.build);
    } catch (e) {
      // the preview was stopped or is busy: ask again
    }
    setTimeout(poll, 500);
  }

  document.addEventListener("DOMContentLoaded", () => {
    night(params.get("night") === "1");
    const search = document.getElementById("pv-search");
    if (search) {
      search.addEventListener("input", () => { filter(); phone(); });
      document.getElementById("pv-night").addEventListener("change", (e) => {
        night(e.target.checked);
        phone();
      });
      document.getElementById("pv-phone-view").addEventListener("change", phone);
    }
    poll();
  });
})();
