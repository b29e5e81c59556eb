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
      MathJax.startup.promise.then(() => typeset());
    },
  },
};

(function () {
  const params = new URLSearchParams(location.search);
  let build = -1;

  function cards() {
    return document.getElementById("cards");
  }

  function typeset() {
    const mj = window.MathJax;
    if (!mj || !mj.typesetPromise) return; // not loaded yet: its ready() typesets
    if (mj.typesetClear) mj.typesetClear([cards()]);
    mj.typesetPromise([cards()]).then(() => {
      document.body.dataset.typeset = String(build);
    });
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

  async function load() {
    const response = await fetch("/cards", { cache: "no-store" });
    const html = await response.text();
    const y = window.scrollY;
    cards().innerHTML = html;
    filter();
    window.scrollTo(0, y);
    document.body.dataset.build = String(build);
    typeset();
  }

  async function poll() {
    try {
      const response = await fetch("/build", { cache: "no-store" });
      const state = await response.json();
      if (state.build !== build) {
        build = state.build;
        await load();
      }
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
