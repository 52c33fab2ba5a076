/* Kansrijke Start — progressive enhancement only: every page works without this file.
   - enableWhen acts live: items whose condition does not hold are hidden (their inputs disabled while
     hidden, so the panel ignores them; on submit they are sent and the server drops them, as it does
     without JavaScript, while a saved draft keeps them);
   - the live panel: the form's fields are POSTed (with the CSRF token and the panel token) to /form/panel,
     debounced, and the server's rendered panel replaces the old one (aria-live announces it); the summary bar
     for narrow screens is drawn again from that panel (what _panel_bar.html shows: level, Meldcode, recipients);
   - review: each consent box says at once whether its recipient will be sent to; with none ticked the one
     button is "Alleen vastleggen, niets versturen";
   - confirmation: a copy button for the summary.
   No inline script or style anywhere (CSP). */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /* ---------- enableWhen ---------- */
  function answerValues(form, linkId) {
    var out = [];
    var inputs = form.querySelectorAll('[name="' + linkId + '"]');
    for (var i = 0; i < inputs.length; i++) {
      var el = inputs[i];
      if (el.disabled) continue;
      if (el.type === "checkbox") { out.push(el.checked); }
      else if (el.type === "radio") { if (el.checked) out.push(el.value); }
      else if (el.value !== "") { out.push(el.value); }
    }
    return out;
  }

  function holds(form, cond) {
    var values = answerValues(form, cond.q);
    if (cond.op === "exists") {
      var present = values.filter(function (v) { return v !== false; }).length > 0;
      return present === Boolean(cond.v);
    }
    var equal = values.some(function (v) { return v === cond.v; });
    if (cond.op === "=") return equal;
    if (cond.op === "!=") return !equal;
    return true;
  }

  function applyEnableWhen(form) {
    var items = form.querySelectorAll("[data-enable]");
    for (var i = 0; i < items.length; i++) {
      var el = items[i], rule;
      try { rule = JSON.parse(el.getAttribute("data-enable")); } catch (e) { continue; }
      var results = rule.when.map(function (c) { return holds(form, c); });
      var on = rule.behavior === "any" ? results.some(Boolean) : results.every(Boolean);
      el.hidden = !on;
      var inputs = el.querySelectorAll("input, select, textarea");
      for (var j = 0; j < inputs.length; j++) inputs[j].disabled = !on;
    }
  }

  /* ---------- live panel ---------- */
  function livePanel(form) {
    var panel = document.getElementById("panel");
    var bar = document.getElementById("panel-bar");
    var url = form.getAttribute("data-panel-url");
    if (!panel || !url || !window.fetch) return function () {};
    var timer = null, seq = 0;
    // The Meldcode strip the GP opens: its short text into sight (the panel scrolls, not the level away for good).
    panel.addEventListener("click", function (e) {
      var summary = e.target && e.target.closest ? e.target.closest(".meldcode-strip > summary") : null;
      if (!summary) return;
      setTimeout(function () {
        if (summary.parentNode.open) summary.parentNode.scrollIntoView({ block: "nearest" });
      }, 0);
    });
    function refresh() {
      var mine = ++seq;
      var body = new URLSearchParams(new FormData(form));
      panel.classList.add("updating");
      panel.setAttribute("aria-busy", "true");
      fetch(url, {
        method: "POST", body: body, credentials: "same-origin",
        headers: {
          "X-CSRF-Token": csrfToken(), "X-Panel-Token": form.getAttribute("data-panel-token") || "",
          "Accept": "application/json"
        }
      }).then(function (r) {
        if (r.status === 409) throw new Error("other-window");  // the app was launched again here (guard.py)
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      }).then(function (data) {
        if (mine !== seq) return; // a newer answer is on its way
        var strip = panel.querySelector(".meldcode-strip"), open = Boolean(strip && strip.open);
        panel.innerHTML = data.html;  // server-rendered and escaped by Jinja
        strip = panel.querySelector(".meldcode-strip");
        if (strip && open) strip.open = true;  // the GP opened the Meldcode strip: a tick does not close it
        if (data.token) form.setAttribute("data-panel-token", data.token);  // renewed (service/web/guard.py)
        if (bar) fillBar(bar, panel);  // the narrow screens' summary bar, from the same panel
        updateSuggestions(form, data.panel.suggestions || []);
        var steps = document.getElementById("step-indicator");  // 3 steps when the Meldcode step is due, else 2
        if (steps) steps.textContent = steps.getAttribute(data.panel.meldcode ? "data-three" : "data-two");
      }).catch(function (err) {
        if (mine !== seq) return;
        var p = document.createElement("p");
        p.className = "panel-errors";
        if (err && err.message === "other-window") p.setAttribute("role", "alert");
        p.textContent = form.getAttribute(  // the catalogue's texts (service/texts.py)
          err && err.message === "other-window" ? "data-panel-other-window" : "data-panel-failed");
        panel.appendChild(p);
        if (bar) bar.appendChild(p.cloneNode(true));  // the bar's level may be out of date: say so there too
      }).then(function () {
        if (mine !== seq) return;
        panel.classList.remove("updating");
        panel.removeAttribute("aria-busy");
        form.dispatchEvent(new CustomEvent("ks:panel-updated"));
      });
    }
    return function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 250);
    };
  }

  // The summary bar as _panel_bar.html renders it, from the panel's own HTML: its level (data-level and words),
  // the Meldcode strip, the recipients' names; the bar's words are the #panel-bar's data-* (service/texts.py).
  function fillBar(bar, panel) {
    function span(cls, words) {
      var s = document.createElement("span");
      s.className = cls;
      if (words) s.textContent = words;
      return s;
    }
    var level = panel.querySelector(".level-value");
    var link = document.createElement("a");
    link.className = "panel-bar-link level-" + (level ? level.getAttribute("data-level") : "none");
    link.href = "#panel";
    if (!level) {
      link.appendChild(span("bar-level", bar.getAttribute("data-no-suggestion")));
    } else {
      var shown = span("bar-level", bar.getAttribute("data-level-label") + ": ");
      var value = document.createElement("strong");
      value.className = "bar-level-value";
      value.textContent = level.textContent;
      shown.appendChild(value);
      link.appendChild(shown);
      if (panel.querySelector(".meldcode-strip")) link.appendChild(span("bar-meldcode", bar.getAttribute("data-meldcode")));
      var names = panel.querySelectorAll(".recipient .recipient-name strong");
      var to = span("bar-recipients", names.length ? bar.getAttribute("data-to") + " " : bar.getAttribute("data-none"));
      for (var i = 0; i < names.length; i++) {
        if (i) to.appendChild(document.createTextNode(", "));
        to.appendChild(span("bar-recipient", names[i].textContent));
      }
      link.appendChild(to);
    }
    link.appendChild(span("bar-open", bar.getAttribute("data-open")));
    bar.replaceChildren(link);
  }

  function updateSuggestions(form, suggestions) {
    var byId = {};
    suggestions.forEach(function (s) { byId[s.link_id] = s; });
    var shown = form.querySelectorAll(".suggestion");
    for (var i = 0; i < shown.length; i++) {
      var id = shown[i].id.replace(/^sug-/, "");
      shown[i].hidden = !byId[id];
    }
    suggestions.forEach(function (s) {
      var el = document.getElementById("sug-" + s.link_id);
      var item = document.getElementById("item-" + s.link_id);
      if (!el && item) {
        el = document.createElement("p");
        el.className = "suggestion";
        el.id = "sug-" + s.link_id;
        var badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = form.getAttribute("data-suggestion");
        el.appendChild(badge);
        el.appendChild(document.createTextNode(" "));
        el.appendChild(document.createElement("span"));
        item.appendChild(el);
      }
      if (el) {
        el.hidden = false;
        var text = el.lastChild;
        if (text && text.nodeType === 3) { text.textContent = " " + s.text; }
        else if (text) { text.textContent = s.text; }
      }
    });
  }

  function initForm() {
    var form = document.getElementById("signal-form");
    if (!form) return;
    var schedule = livePanel(form);
    applyEnableWhen(form);
    form.addEventListener("change", function () { applyEnableWhen(form); schedule(); });
    form.addEventListener("input", function (e) {
      if (e.target && (e.target.tagName === "TEXTAREA" || e.target.type === "text" || e.target.type === "number")) schedule();
    });
    // Buttons that post the whole form elsewhere (draft, language) must send the hidden items too.
    form.addEventListener("submit", function () {
      var inputs = form.querySelectorAll("input:disabled, select:disabled, textarea:disabled");
      for (var i = 0; i < inputs.length; i++) inputs[i].disabled = false;
    });
  }

  /* ---------- review: consent per recipient ---------- */
  function initReview() {
    var boxes = document.querySelectorAll('input[id^="consent-for-"]');
    var nothingOut = document.getElementById("nothing-external");
    var method = document.getElementById("item-consent-method");
    var recordOnly = document.getElementById("record-only"), sendButton = document.getElementById("send-button");
    // Every external recipient needs consent (mappings/schemas/recipients.schema.json): with no box ticked,
    // nothing leaves the practice, and how consent was given is not asked.
    function showNothingOut() {
      var any = false;
      for (var j = 0; j < boxes.length; j++) any = any || boxes[j].checked;
      if (nothingOut) nothingOut.hidden = any;
      if (method) method.hidden = !any;
      // nothing leaves: the one button is "Alleen vastleggen, niets versturen" (the server asks it too)
      if (recordOnly && sendButton) { recordOnly.hidden = any; sendButton.hidden = !any; }
    }
    for (var i = 0; i < boxes.length; i++) {
      (function (box) {
        var rid = box.id.replace(/^consent-for-/, "");
        var state = document.querySelector('[data-consent-state="' + rid + '"]');
        var nothing = document.querySelector('[data-gets-nothing="' + rid + '"]');
        function show() {
          if (state) state.textContent = box.checked ? state.getAttribute("data-yes") : state.getAttribute("data-no");
          if (nothing) nothing.hidden = box.checked;
          showNothingOut();
        }
        box.addEventListener("change", show);
        show();
      })(boxes[i]);
    }
  }

  /* ---------- errors: focus the summary ---------- */
  function focusErrors() {
    var summary = document.getElementById("error-summary");
    if (summary) summary.focus();
  }

  /* ---------- confirmation: copy the summary ---------- */
  function initCopy() {
    var button = document.getElementById("copy-summary");
    if (!button) return;
    var target = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById("copy-status");
    button.hidden = false;
    button.addEventListener("click", function () {
      function done(ok) { if (status) status.textContent = button.getAttribute(ok ? "data-done" : "data-fail"); }
      target.focus();
      target.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(target.value).then(function () { done(true); }, function () { done(document.execCommand("copy")); });
      } else {
        done(document.execCommand("copy"));
      }
    });
  }

  function init() { initForm(); initReview(); initCopy(); focusErrors(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
