// crmflow console: small progressive enhancements. Every page works without this script.
"use strict";

// A page the browser shows again from its back/forward cache (Back after a form was sent) is read
// again: it may offer what was done meanwhile (an undo already run, records already deleted).
window.addEventListener("pageshow", function (e) {
  if (e.persisted) { window.location.reload(); }
});

// fetchHeaders mark the requests of this script: a page fetched by the script is not the page
// the browser shows, so it leaves the message of a change (the flash) for the page that is.
var fetchHeaders = { "X-Console-Fetch": "1" };

document.addEventListener("DOMContentLoaded", function () {
  // "Select all on this page", and then "Select all N".
  var page = document.getElementById("selectpage");
  if (page) {
    var picks = Array.prototype.slice.call(document.querySelectorAll("input.pick"));
    var bar = document.getElementById("selectall-bar");
    var deleteSelected = document.getElementById("delete-selected");
    var sync = function () {
      var all = picks.length > 0 && picks.every(function (p) { return p.checked; });
      page.checked = all;
      if (bar) { bar.hidden = !all; }
      if (!all && deleteSelected) { deleteSelected.value = "selected"; }
    };
    page.addEventListener("change", function () {
      picks.forEach(function (p) { p.checked = page.checked; });
      sync();
    });
    picks.forEach(function (p) { p.addEventListener("change", sync); });
    var selectN = document.getElementById("selectall-n");
    if (selectN && bar && deleteSelected) {
      selectN.addEventListener("click", function () {
        deleteSelected.value = "all";
        document.getElementById("selectall-msg").textContent = bar.dataset.allmsg;
        selectN.hidden = true;
        deleteSelected.focus();
      });
    }
  }

  // Live progress of a bulk job: poll its status until it is final (complete, refused, canceled
  // or stopped).
  var job = document.getElementById("job");
  if (job) {
    var status = document.getElementById("job-status");
    var bar2 = document.getElementById("job-bar");
    var text = document.getElementById("job-progress");
    var refusal = document.getElementById("job-refusal");
    var final = function (s) { return s === "COMPLETE" || s === "REFUSED" || s === "CANCELED" || s === "STOPPED"; };
    var poll = function () {
      fetch(job.dataset.statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) {
          // An answer that is not the status (the sign-in page once the session has ended, the
          // job gone, a right lost) will not change by asking again: the page, read again, says
          // what happened. A server error, a timeout (408) or too many requests at once (429) may
          // pass, so the status is asked again later.
          var passes = r.status === 408 || r.status === 429;
          if (r.redirected || (r.status >= 400 && r.status < 500 && !passes)) { window.location.reload(); return null; }
          if (!r.ok) { throw new Error(String(r.status)); }
          return r.json();
        })
        .then(function (j) {
          if (!j) { return; }
          status.textContent = j.label;
          status.dataset.status = j.status;
          bar2.max = Math.max(j.total, 1);
          bar2.value = j.done;
          text.textContent = j.progress;
          if (j.refusal) { refusal.textContent = j.refusal; refusal.hidden = false; }
          if (j.reload) { window.location.reload(); return; }
          if (!j.final) { setTimeout(poll, 500); }
        })
        .catch(function () { setTimeout(poll, 2000); });
    };
    if (!final(status.dataset.status)) { setTimeout(poll, 300); }
  }

  // Confirmations in a dialog: the confirmation page's form (typed count and all) is fetched and
  // shown in a modal <dialog>, and its answers stay there until the delete runs. Without this
  // script, or where <dialog> is missing, the same pages open as pages.
  var main = document.getElementById("main");
  if (!main || typeof HTMLDialogElement !== "function") { return; }
  var dialog = document.createElement("dialog");
  dialog.id = "confirm-dialog";
  dialog.setAttribute("aria-labelledby", "confirm-dialog-title");
  main.appendChild(dialog);
  var show = function (html, fallback) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var content = doc.getElementById("main");
    if (!content) { window.location.assign(fallback); return; }
    var title = content.querySelector("h1");
    dialog.replaceChildren();
    var h = document.createElement("h2");
    h.id = "confirm-dialog-title";
    h.textContent = title ? title.textContent : "";
    dialog.appendChild(h);
    Array.prototype.slice.call(content.children).forEach(function (el) {
      if (el.tagName !== "H1") { dialog.appendChild(document.importNode(el, true)); }
    });
    Array.prototype.slice.call(dialog.querySelectorAll("a")).forEach(function (a) {
      if (a.getAttribute("href") === window.location.pathname + window.location.search ||
          a.getAttribute("href") === window.location.pathname) {
        a.addEventListener("click", function (e) { e.preventDefault(); dialog.close(); });
      }
    });
    var form = dialog.querySelector("form");
    if (form) { form.addEventListener("submit", function (e) { send(e, form, null); }); }
    if (!dialog.open) { dialog.showModal(); }
    var focus = dialog.querySelector("#count") || dialog.querySelector("button, a");
    if (focus) { focus.focus(); }
  };
  // send posts form (with the button that submitted it) and shows the answer: a confirmation
  // again (a wrong count, say) in the dialog, anything else as the page it is.
  var send = function (e, form, submitter) {
    e.preventDefault();
    var body = new URLSearchParams(new FormData(form));
    var by = submitter || e.submitter;
    if (by && by.name) { body.append(by.name, by.value); }
    fetch(form.action, { method: "POST", credentials: "same-origin", headers: fetchHeaders, body: body })
      .then(function (r) { return r.text().then(function (html) { return { r: r, html: html }; }); })
      .then(function (x) {
        var doc = new DOMParser().parseFromString(x.html, "text/html");
        if (x.r.redirected || !doc.getElementById("main")) { window.location.assign(x.r.url); return; }
        if (doc.getElementById("count") || doc.querySelector("#main .error")) { show(x.html, x.r.url); return; }
        document.open(); document.write(x.html); document.close();
      })
      .catch(function () { form.submit(); });
  };
  var records = document.getElementById("records");
  if (records) {
    records.addEventListener("submit", function (e) {
      if (e.submitter && (e.submitter.id === "delete-selected" || e.submitter.id === "delete-all")) { send(e, records, e.submitter); }
    });
  }
  Array.prototype.slice.call(document.querySelectorAll("a[data-dialog]")).forEach(function (a) {
    a.addEventListener("click", function (e) {
      e.preventDefault();
      fetch(a.href, { credentials: "same-origin", headers: fetchHeaders })
        .then(function (r) {
          // Led elsewhere (to the sign-in page, the session having ended): go there, as a page.
          if (r.redirected) { window.location.assign(r.url); return null; }
          return r.text().then(function (html) { show(html, a.href); });
        })
        .catch(function () { window.location.assign(a.href); });
    });
  });
});
